"""Demo data: two tenants with renters speaking each language (`crms-bot demo-data`)."""

from __future__ import annotations

import secrets
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.bookings import upsert_booking
from bot.models import Tenant
from bot.repository import tenant_by_slug

ZURICH = ZoneInfo("Europe/Zurich")
#: renters with a postal address: their QR-bills name them as the debtor
ADDRESSES: dict[str, dict[str, Any]] = {
    "CR-48213": {"address": {"street": "Bahnhofstrasse", "house_number": "10",
                             "postcode": "8001", "town": "Zürich", "country": "CH"}},
    "CR-51001": {"address": {"street": "Rue de Bourg", "house_number": "5",
                             "postcode": "1003", "town": "Lausanne", "country": "CH"}},
}
TENANTS: list[dict[str, Any]] = [
    {"slug": "alpenrent", "name": "Alpen Rent AG", "default_language": "de",
     "sms_number": "+41445550101", "whatsapp_number": "+41445550102",
     "staff_chat_id": "-1001000000001",
     "settings": {
         "address": "Hardstrasse 201, 8005 Zürich",
         "phone": "+41 44 555 01 00",
         "min_renter_age": 21, "allow_dob_identification": True,
         "insurance_deductible_chf": "1500",
         "opening_hours": {"de": "Mo–Fr 07:30–18:30, Sa 08:00–12:00",
                           "fr": "lu–ve 07:30–18:30, sa 08:00–12:00",
                           "it": "lu–ve 07:30–18:30, sa 08:00–12:00",
                           "en": "Mon–Fri 07:30–18:30, Sat 08:00–12:00"},
         "locations": {"Zürich HB, Europaallee 1": [47.3779, 8.5372],
                       "Zürich Flughafen, P3": [47.4511, 8.5620]},
         # a QR-IBAN (SIX's example): bills carry a QRR reference
         "qr_creditor": {"name": "Alpen Rent AG", "street": "Hardstrasse", "house_num": "201",
                         "pcode": "8005", "city": "Zürich", "country": "CH",
                         "iban": "CH44 3199 9123 0008 8901 2"},
         "vat_number": "CHE-123.456.788 MWST", "vat_rate": "8.1"}},
    {"slug": "lemanauto", "name": "Léman Auto SA", "default_language": "fr",
     "sms_number": "+41215550201", "whatsapp_number": "+41215550202",
     "staff_chat_id": "-1001000000002",
     "settings": {
         "address": "Avenue de la Gare 12, 1003 Lausanne",
         "phone": "+41 21 555 02 00",
         "min_renter_age": 23, "allow_dob_identification": False,
         "insurance_deductible_chf": "2000",
         "opening_hours": {"de": "Mo–Sa 08:00–19:00", "fr": "lu–sa 08:00–19:00",
                           "it": "lu–sa 08:00–19:00", "en": "Mon–Sat 08:00–19:00"},
         "locations": {"Lausanne Gare, Place de la Gare 9": [46.5167, 6.6291]},
         # a normal IBAN: bills carry an ISO 11649 creditor reference (RF)
         "qr_creditor": {"name": "Léman Auto SA", "street": "Avenue de la Gare",
                         "house_num": "12", "pcode": "1003", "city": "Lausanne",
                         "country": "CH", "iban": "CH93 0076 2011 6238 5295 7"}}},
]
#: (tenant, ref, name, phone, birth date, language, plate, category, model, days ahead, amount, deposit)
BOOKINGS = [
    ("alpenrent", "CR-48213", "Anna Müller", "+41791234501", "1990-03-12", "de",
     "ZH 123456", "B", "VW Golf", 2, "1234.50", "1000"),
    ("alpenrent", "CR-48214", "Marco Rossi", "+41791234502", "1985-07-01", "it",
     "ZH 654321", "B", "Škoda Octavia", 3, "389.00", "800"),
    ("alpenrent", "CR-48215", "James Miller", "+41791234503", "1979-11-23", "en",
     "ZH 777001", "B", "Tesla Model 3", 4, "615.00", "1500"),
    ("alpenrent", "CR-48216", "Chloé Favre", "+41791234504", "1996-01-30", "fr",
     "ZH 880042", "B", "Renault Clio", 5, "240.00", "500"),
    ("lemanauto", "CR-51001", "Sophie Martin", "+41791234511", "1988-05-19", "fr",
     "VD 451200", "B", "Peugeot 308", 2, "512.40", "1000"),
    ("lemanauto", "CR-51002", "Luca Bernasconi", "+41791234512", "1992-09-08", "it",
     "VD 451201", "B", "Fiat 500", 3, "198.00", "500"),
    ("lemanauto", "CR-51003", "Emily Clark", "+41791234513", "1983-12-02", "en",
     "VD 451202", "B", "Toyota RAV4", 4, "870.00", "1500"),
    ("lemanauto", "CR-51004", "Jonas Weber", "+41791234514", "1975-02-14", "de",
     "VD 451203", "BE", "VW Transporter", 5, "1420.00", "2000"),
]
LOCATIONS = {"alpenrent": "Zürich HB, Europaallee 1", "lemanauto": "Lausanne Gare, Place de la Gare 9"}


def load_demo_data(session: Session, now: datetime) -> dict[str, Any]:
    """Create or refresh the demo tenants and bookings; returns the DESIGN.md JSON."""
    tenants = [_tenant(session, spec) for spec in TENANTS]
    by_slug = {t.slug: t for t in tenants}
    today = now.astimezone(ZURICH).date()
    bookings = []
    for (slug, ref, name, phone, dob, lang, plate, cat, model, days, amount, deposit) in BOOKINGS:
        pickup = datetime.combine(today + timedelta(days=days), time(9, 0), ZURICH)
        ret = datetime.combine(today + timedelta(days=days + 4), time(17, 0), ZURICH)
        data = {"ref": ref, "renter": {"name": name, "phone": phone, "birth_date": dob,
                                       "language": lang, **ADDRESSES.get(ref, {})},
                "vehicle": {"plate": plate, "category": cat, "model": model},
                "pickup_at": pickup.isoformat(), "return_at": ret.isoformat(),
                "pickup_location": LOCATIONS[slug], "return_location": LOCATIONS[slug],
                "amount_due_chf": amount, "deposit_chf": deposit}
        upsert_booking(session, by_slug[slug], data, now, actor="demo-data")
        bookings.append({"tenant": slug, "ref": ref, "renter_name": name, "renter_phone": phone,
                         "renter_birth_date": dob, "language": lang,
                         "pickup_at": pickup.isoformat(), "return_at": ret.isoformat(),
                         "amount_due_chf": amount, "deposit_chf": deposit,
                         "vehicle_plate": plate, "vehicle_category": cat})
    return {"tenants": [{"slug": t.slug, "name": t.name, "sms_number": t.sms_number,
                         "whatsapp_number": t.whatsapp_number,
                         "telegram_webhook_secret": t.telegram_webhook_secret,
                         "staff_chat_id": t.staff_chat_id} for t in tenants],
            "bookings": bookings}


def _tenant(session: Session, spec: dict[str, Any]) -> Tenant:
    tenant = tenant_by_slug(session, spec["slug"])
    if tenant is None:
        tenant = Tenant(slug=spec["slug"], telegram_webhook_secret=secrets.token_urlsafe(32))
        session.add(tenant)
    for key in ("name", "default_language", "sms_number", "whatsapp_number", "staff_chat_id",
                "settings"):
        setattr(tenant, key, spec[key])
    session.flush()
    return tenant
