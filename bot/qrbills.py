"""Swiss QR-bills: references, the tenant's creditor data and the bill of a booking.

With a QR-IBAN (institution id 30000-31999) the reference is a QRR: 26 digits naming the
tenant and our payment row, and a modulo 10 recursive check digit. With a normal IBAN it is
an ISO 11649 creditor reference (RF, modulo 97). Addresses are always structured (type S):
since November 2025 banks refuse the combined type K, which `qrbill` still writes when given
address lines, so a bill that comes out as K is refused here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from qrbill import QRBill
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

from bot.models import Customer, Tenant

MOD10_TABLE = (0, 9, 4, 6, 8, 2, 7, 1, 3, 5)
LIMITS = {"name": 70, "street": 70, "house_num": 16, "pcode": 16, "city": 35}
LANGUAGES = {"de": "de", "fr": "fr", "it": "it", "en": "en", "rm": "de"}


class QrBillError(ValueError):
    """The bill cannot be made as the guidelines require (the reason says why)."""


def mod10_check_digit(digits: str) -> str:
    """The modulo 10 recursive check digit of a QRR (Swiss Implementation Guidelines)."""
    carry = 0
    for digit in digits:
        carry = MOD10_TABLE[(carry + int(digit)) % 10]
    return str((10 - carry) % 10)


def qrr(tenant_id: int, payment_id: int) -> str:
    """A QR reference: tenant (6 digits), payment row (20 digits), check digit."""
    body = f"{tenant_id:06d}{payment_id:020d}"
    return body + mod10_check_digit(body)


def scor(tenant_id: int, payment_id: int) -> str:
    """An ISO 11649 creditor reference naming the tenant and the payment row."""
    body = f"{tenant_id:05d}{payment_id:010d}"
    return f"RF{mod_97_10.calc_check_digits(body + 'RF')}{body}"


def read_reference(reference: str) -> tuple[int, int] | None:
    """(tenant id, payment id) of one of our references, None for anything else."""
    ref = re.sub(r"\s", "", reference or "").upper()
    if re.fullmatch(r"\d{27}", ref) and mod10_check_digit(ref[:26]) == ref[26]:
        return int(ref[:6]), int(ref[6:26])
    if ref.startswith("RF") and iso11649.is_valid(ref) and re.fullmatch(r"RF\d{2}\d{15}", ref):
        return int(ref[4:9]), int(ref[9:])
    return None


def is_qr_iban(iban: str) -> bool:
    """True for a QR-IBAN (its institution id is 30000 to 31999)."""
    compact = re.sub(r"\s", "", iban).upper()
    return compact[:2] in ("CH", "LI") and compact[4:9].isdigit() and \
        30000 <= int(compact[4:9]) <= 31999


@dataclass(frozen=True)
class Creditor:
    """The tenant's account and structured address, as the bill prints them."""

    iban: str
    address: dict[str, str]
    vat_number: str | None
    vat_rate: Decimal | None
    payment_days: int


def creditor_of(tenant: Tenant) -> Creditor:
    """The tenant's QR-bill creditor, or QrBillError with everything that is wrong."""
    problems = creditor_problems(tenant)
    if problems:
        raise QrBillError("; ".join(problems))
    data = tenant.setting("qr_creditor") or {}
    rate = tenant.setting("vat_rate")
    return Creditor(iban=re.sub(r"\s", "", data["iban"]).upper(),
                    address={k: str(data[k]) for k in (*LIMITS, "country")},
                    vat_number=tenant.setting("vat_number") or None,
                    vat_rate=Decimal(str(rate)) if rate is not None else None,
                    payment_days=int(tenant.setting("qr_payment_days") or 10))


def creditor_problems(tenant: Tenant) -> list[str]:
    """What is wrong with a tenant's creditor data, in words (`crms-bot company check`)."""
    data = tenant.setting("qr_creditor")
    if not data:
        return ["no QR-bill creditor: set qr_creditor with iban, name, street, house_num, "
                "pcode, city, country"]
    problems = [f"{field} is missing" for field in (*LIMITS, "country", "iban")
                if not str(data.get(field) or "").strip()]
    problems += [f"{field} is longer than {limit} characters"
                 for field, limit in LIMITS.items() if len(str(data.get(field) or "")) > limit]
    if "lines" in data or "line1" in data:
        problems.append("address lines (type K) are refused since November 2025: give street, "
                        "house_num, pcode and city")
    country = str(data.get("country") or "")
    if country and not re.fullmatch(r"[A-Z]{2}", country):
        problems.append(f"country must be a two-letter code like CH, not {country!r}")
    iban = str(data.get("iban") or "")
    if iban:
        try:
            parsed = IBAN(iban)
        except SchwiftyException as exc:
            problems.append(f"IBAN {iban} is not valid: {exc}")
        else:
            if parsed.country_code not in ("CH", "LI"):
                problems.append(f"QR-bills need a Swiss or Liechtenstein IBAN, not {parsed.country_code}")
    rate = tenant.setting("vat_rate")
    if tenant.setting("vat_number") and rate is None:
        problems.append("vat_number is set but vat_rate is not")
    if not problems:  # the library has the last word: a sample bill must come out as type S
        try:
            sample = build(tenant, Decimal("1.00"), qrr(tenant.id, 1) if is_qr_iban(iban)
                           else scor(tenant.id, 1), None, "de", "check")
            _refuse_combined(sample)
        except (ValueError, QrBillError) as exc:
            problems.append(f"the bill cannot be made: {exc}")
    return problems


def reference_for(creditor: Creditor, tenant_id: int, payment_id: int) -> str:
    """QRR with a QR-IBAN, SCOR with a normal IBAN."""
    return qrr(tenant_id, payment_id) if is_qr_iban(creditor.iban) else \
        scor(tenant_id, payment_id)


def debtor_of(customer: Customer | None) -> dict[str, str] | None:
    """The renter's structured address, or None (the bill then leaves 'payable by' blank)."""
    import json

    if customer is None or not customer.address or not customer.name:
        return None
    try:
        address = json.loads(customer.address)
    except ValueError:
        return None
    needed = ("street", "house_number", "postcode", "town")
    if not all(str(address.get(k) or "").strip() for k in needed):
        return None
    return {"name": customer.name[:70], "street": str(address["street"])[:70],
            "house_num": str(address["house_number"])[:16],
            "pcode": str(address["postcode"])[:16], "city": str(address["town"])[:35],
            "country": str(address.get("country") or "CH")[:2].upper()}


def build(tenant: Tenant, amount: Decimal, reference: str, debtor: dict[str, str] | None,
          language: str, info: str) -> QRBill:
    """The bill (check the creditor with `creditor_of` first); QrBillError for a type K bill."""
    data = tenant.setting("qr_creditor") or {}
    bill = QRBill(account=data.get("iban"),
                  creditor={k: str(data.get(k) or "") for k in (*LIMITS, "country")},
                  amount=str(Decimal(amount).quantize(Decimal("0.01"))), currency="CHF",
                  reference_number=reference, additional_information=info[:140],
                  debtor=debtor, language=LANGUAGES.get(language, "de"))
    _refuse_combined(bill)
    return bill


def _refuse_combined(bill: QRBill) -> None:
    lines = bill.qr_data().split("\r\n")
    types = [lines[4]] + ([lines[20]] if len(lines) > 20 and lines[20] else [])
    if any(kind != "S" for kind in types):
        raise QrBillError("address type K (combined) is no longer accepted by Swiss banks")


def payload(bill: QRBill) -> list[str]:
    """The QR code's lines (for tests and checks)."""
    return bill.qr_data().split("\r\n")


def describe(bill: QRBill) -> dict[str, Any]:
    """What staff and logs may see: no addresses."""
    lines = payload(bill)
    return {"iban": lines[3], "amount": lines[18], "currency": lines[19],
            "reference_type": lines[27], "reference": lines[28]}
