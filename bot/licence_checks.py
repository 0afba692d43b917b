"""What was read from a driving licence, and its checks against the booking and tenant rules.

The EU / Swiss card model numbers its fields the same in every language: 1 surname,
2 given names, 3 birth date (and place), 4a issue date, 4b expiry date, 4c authority,
5 licence number, 9 categories. Each check that fails gives the renter a clear message and
staff a reason; a field read with low confidence sends the check to staff instead of passing.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rapidfuzz import fuzz

from bot.i18n import ZURICH
from bot.models import Booking, Tenant

KEY_FIELDS = ("surname", "given_names", "birth_date", "expiry_date", "licence_number")
MIN_CONFIDENCE = 0.80  # below this a field is not trusted without a person
NAME_MATCH = 85  # rapidfuzz score (0-100) for the licence name against the renter's name
# A licence for a higher category also covers B (Swiss and EU rules: C1, C, D1, D need B).
COVERS = {"B": {"B", "BE", "C1", "C1E", "C", "CE", "D1", "D1E", "D", "DE"}}


@dataclass
class LicenceReading:
    """The fields read from one image; dates as `date`, None where not found."""

    is_licence: bool
    surname: str | None = None
    given_names: str | None = None
    birth_date: date | None = None
    issue_date: date | None = None
    expiry_date: date | None = None
    authority: str | None = None
    licence_number: str | None = None
    categories: tuple[str, ...] = ()
    confidence: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The `crms-bot licence scan --json` contract (DESIGN.md); dates ISO 8601."""
        iso = lambda d: d.isoformat() if d else None  # noqa: E731
        return {"is_licence": self.is_licence, "surname": self.surname,
                "given_names": self.given_names, "birth_date": iso(self.birth_date),
                "issue_date": iso(self.issue_date), "expiry_date": iso(self.expiry_date),
                "authority": self.authority, "licence_number": self.licence_number,
                "categories": list(self.categories),
                "confidence": {k: round(v, 3) for k, v in self.confidence.items()},
                "problems": list(self.problems)}

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "LicenceReading":
        """Back from `to_json` (what the OCR job hands to the flow)."""
        day = lambda v: date.fromisoformat(v) if v else None  # noqa: E731
        return cls(is_licence=bool(body.get("is_licence")), surname=body.get("surname"),
                   given_names=body.get("given_names"), birth_date=day(body.get("birth_date")),
                   issue_date=day(body.get("issue_date")),
                   expiry_date=day(body.get("expiry_date")), authority=body.get("authority"),
                   licence_number=body.get("licence_number"),
                   categories=tuple(body.get("categories") or ()),
                   confidence=dict(body.get("confidence") or {}),
                   problems=list(body.get("problems") or []))

    @property
    def overall_confidence(self) -> float:
        """The weakest key field (a licence is only as good as its worst field)."""
        return min((self.confidence.get(k, 0.0) for k in KEY_FIELDS), default=0.0)


@dataclass(frozen=True)
class Problem:
    """A failed check: `code` names the renter's message and the staff reason."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)
    needs_staff: bool = True

    @property
    def renter_key(self) -> str:
        """The message to the renter."""
        return f"licence.problem.{self.code}"


def fold(text: str) -> str:
    """Lower case without accents or punctuation: 'Müller-Lüdenscheidt' ~ 'muller ludenscheidt'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join("".join(ch if ch.isalnum() else " " for ch in plain).split())


def names_match(licence_name: str, booking_name: str) -> bool:
    """Tolerant of accents, order and middle names; not of a different person."""
    a, b = fold(licence_name), fold(booking_name)
    if not a or not b:
        return False
    return max(fuzz.token_set_ratio(a, b), fuzz.token_sort_ratio(a, b)) >= NAME_MATCH


def age_on(birth: date, day: date) -> int:
    """Full years of age on `day`."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def check(reading: LicenceReading, booking: Booking, tenant: Tenant) -> list[Problem]:
    """Every check of the licence against the booking; empty when it can be accepted."""
    if not reading.is_licence:
        return [Problem("not_a_licence", needs_staff=False)]
    problems: list[Problem] = []
    pickup = booking.pickup_at.astimezone(ZURICH).date()
    returned = booking.return_at.astimezone(ZURICH).date()
    renter = booking.customer.name if booking.customer is not None else None
    read_name = " ".join(p for p in (reading.given_names, reading.surname) if p)
    if renter and read_name and not names_match(read_name, renter):
        problems.append(Problem("name_mismatch", {"read": read_name}))
    if reading.expiry_date is None:
        problems.append(Problem("expiry_unreadable"))
    elif reading.expiry_date < returned:
        problems.append(Problem("expires_before_return",
                                {"expiry": reading.expiry_date, "return": returned}))
    needed = (booking.vehicle.category if booking.vehicle is not None else None) or "B"
    covering = COVERS.get(needed, {needed})
    if reading.categories and not covering & set(reading.categories):
        problems.append(Problem("category_missing", {"category": needed}))
    elif not reading.categories:
        problems.append(Problem("categories_unreadable"))
    minimum = int(tenant.setting("min_renter_age") or 0)
    if reading.birth_date is not None and age_on(reading.birth_date, pickup) < minimum:
        problems.append(Problem("too_young", {"age": minimum}))
    weak = [k for k in KEY_FIELDS if reading.confidence.get(k, 0.0) < MIN_CONFIDENCE]
    if weak and not problems:
        problems.append(Problem("low_confidence", {"fields": ", ".join(weak)}))
    return problems
