"""Entities in chat messages: booking reference, date, Swiss plate, phone, e-mail."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import phonenumbers

BOOKING_REF = re.compile(r"\bcr[\s\-_]?(\d{4,8})\b", re.IGNORECASE)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
PLATE = re.compile(
    r"\b(AG|AI|AR|BE|BL|BS|FR|GE|GL|GR|JU|LU|NE|NW|OW|SG|SH|SO|SZ|TG|TI|UR|VD|VS|ZG|ZH)"
    r"[\s-]?(\d{1,6})\b"
)
CANTONS = PLATE.pattern.split("(", 1)[1].split(")", 1)[0]
PLATE_ANY_CASE = re.compile(rf"\b({CANTONS})[\s-]?(\d{{3,6}})\b", re.IGNORECASE)


def find_plate(text: str) -> str | None:
    """A Swiss plate such as `ZH 123456`.

    In lower case only with 3 digits or more, so "I'll be 30 minutes late" names no car.
    """
    found = PLATE.search(text) or PLATE_ANY_CASE.search(text)
    return f"{found.group(1).upper()} {found.group(2)}" if found else None


NUMERIC_DATE = re.compile(r"\b(\d{1,2})[./](\d{1,2})(?:[./](\d{2,4}))?\b")
RELATIVE = {
    0: ("heute", "hüt", "today", "aujourd'hui", "oggi"),
    1: ("morgen", "morn", "tomorrow", "demain", "domani"),
    2: ("übermorgen", "übermorn", "uebermorgen", "after tomorrow", "après-demain",
        "apres-demain", "dopodomani"),
}
WEEKDAYS = [
    ("montag", "monday", "lundi", "lunedì", "lunedi", "mäntig"),
    ("dienstag", "tuesday", "mardi", "martedì", "martedi", "zischtig"),
    ("mittwoch", "wednesday", "mercredi", "mercoledì", "mercoledi", "mittwuch"),
    ("donnerstag", "thursday", "jeudi", "giovedì", "giovedi", "dunschtig"),
    ("freitag", "friday", "vendredi", "venerdì", "venerdi", "fritig"),
    ("samstag", "saturday", "samedi", "sabato", "samschtig"),
    ("sonntag", "sunday", "dimanche", "domenica", "sunntig"),
]

# One pattern per offset and per weekday, built once (a message is tried against all of them).
_RELATIVE_PATTERNS = [(offset, re.compile(
    r"(?<![\w-])(?:" + "|".join(re.escape(w) for w in RELATIVE[offset]) + r")(?![\w-])"))
    for offset in (2, 1, 0)]  # longest words first: übermorgen contains morgen
_WEEKDAY_PATTERNS = [re.compile(r"\b(?:" + "|".join(names) + r")\b") for names in WEEKDAYS]


def normalise_ref(digits: str) -> str:
    """The canonical booking reference, `CR-48213`."""
    return f"CR-{digits}"


def find_date(text: str, today: date) -> date | None:
    """The first date in the text: numeric (12.3., 12.03.2027) or relative (morgen, demain)."""
    lowered = text.lower()
    for match in NUMERIC_DATE.finditer(lowered):
        parsed = _numeric_date(match, today)
        if parsed:
            return parsed
    for offset, pattern in _RELATIVE_PATTERNS:
        if pattern.search(lowered):
            return today + timedelta(days=offset)
    for index, pattern in enumerate(_WEEKDAY_PATTERNS):
        if pattern.search(lowered):
            return today + timedelta(days=(index - today.weekday()) % 7 or 7)
    return None


def _numeric_date(match: re.Match[str], today: date) -> date | None:
    day, month, year = int(match.group(1)), int(match.group(2)), match.group(3)
    if year is None:
        full_year = today.year
    else:
        full_year = int(year) + (2000 if len(year) == 2 and int(year) < 50 else 0)
        if len(year) == 2 and int(year) >= 50:
            full_year = 1900 + int(year)
    try:
        found = date(full_year, month, day)
    except ValueError:
        return None
    if year is None and found < today:
        found = found.replace(year=full_year + 1)
    return found


def extract(text: str, today: date) -> dict[str, Any]:
    """All entities found in the text, dates as ISO strings."""
    entities: dict[str, Any] = {}
    if ref := BOOKING_REF.search(text):
        entities["booking_ref"] = normalise_ref(ref.group(1))
    if found := find_date(BOOKING_REF.sub(" ", text), today):
        entities["date"] = found.isoformat()
    if plate := find_plate(text):
        entities["plate"] = plate
    if email := EMAIL.search(text):
        entities["email"] = email.group(0).lower()
    for match in phonenumbers.PhoneNumberMatcher(text, "CH"):
        entities["phone"] = phonenumbers.format_number(
            match.number, phonenumbers.PhoneNumberFormat.E164)
        break
    return entities
