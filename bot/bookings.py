"""Create, update and cancel bookings from the rental system's data, validated."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import crypto
from bot.i18n import ALL_LANGUAGES
from bot.models import AuditLog, Booking, Customer, Tenant, Vehicle
from bot.reminders import plan_reminders
from bot.repository import booking_by_ref, normalise_phone
from nlu.entities import BOOKING_REF, normalise_ref

CATEGORIES = {"AM", "A1", "A2", "A", "B", "BE", "B1", "C1", "C1E", "C", "CE", "D1", "D1E", "D", "DE"}


class BookingInvalid(ValueError):
    """The booking data is not acceptable; `fields` says why, field by field."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def _aware(value: Any, name: str, errors: dict[str, str]) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        errors[name] = "must be an ISO 8601 date-time with offset, e.g. 2027-03-12T08:30:00+01:00"
        return None
    if parsed.tzinfo is None:
        errors[name] = "needs a UTC offset, e.g. +01:00"
        return None
    return parsed


def _amount(value: Any, name: str, errors: dict[str, str]) -> Decimal:
    try:
        amount = Decimal(str(value if value is not None else "0"))
    except InvalidOperation:
        errors[name] = "must be a number"
        return Decimal("0")
    if amount < 0 or amount > Decimal("1000000") or amount != amount.quantize(Decimal("0.01")):
        errors[name] = "must be between 0 and 1000000 with at most 2 decimals"
    return amount


def validate(data: Any) -> dict[str, Any]:
    """Check the booking API body; returns cleaned values or raises BookingInvalid."""
    if not isinstance(data, dict):
        raise BookingInvalid({"body": "must be a JSON object"})
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    match = BOOKING_REF.fullmatch(str(data.get("ref", "")).strip())
    if not match:
        errors["ref"] = "must look like CR-48213"
    else:
        clean["ref"] = normalise_ref(match.group(1))
    renter = data.get("renter")
    if not isinstance(renter, dict):
        errors["renter"] = "must be an object with name, phone, birth_date, language"
        renter = {}
    name = str(renter.get("name") or "").strip()
    if not name or len(name) > 200:
        errors["renter.name"] = "required, at most 200 characters"
    phone = normalise_phone(str(renter.get("phone") or ""))
    if phone is None:
        errors["renter.phone"] = "must be a phone number, e.g. +41791234567"
    try:
        birth = date.fromisoformat(str(renter.get("birth_date")))
        clean["birth_date"] = birth.isoformat()
    except ValueError:
        errors["renter.birth_date"] = "must be a date YYYY-MM-DD"
    language = str(renter.get("language") or "de").lower()
    if language not in ALL_LANGUAGES:
        errors["renter.language"] = f"must be one of {', '.join(ALL_LANGUAGES)}"
    address = renter.get("address")
    if address is not None and not (isinstance(address, dict) and all(
            str(address.get(k) or "").strip() for k in ("street", "postcode", "town"))):
        errors["renter.address"] = "needs street, house_number, postcode, town, country"
    vehicle = data.get("vehicle") or {}
    if not isinstance(vehicle, dict) or not str(vehicle.get("plate") or "").strip():
        errors["vehicle.plate"] = "required"
        vehicle = vehicle if isinstance(vehicle, dict) else {}
    category = str(vehicle.get("category") or "B").upper()
    if category not in CATEGORIES:
        errors["vehicle.category"] = "must be a licence category such as B"
    pickup = _aware(data.get("pickup_at"), "pickup_at", errors)
    ret = _aware(data.get("return_at"), "return_at", errors)
    if pickup and ret and ret <= pickup:
        errors["return_at"] = "must be after pickup_at"
    amount = _amount(data.get("amount_due_chf"), "amount_due_chf", errors)
    deposit = _amount(data.get("deposit_chf"), "deposit_chf", errors)
    if errors:
        raise BookingInvalid(errors)
    import json

    clean.update(name=name, phone=phone, language=language, email=renter.get("email"),
                 address=json.dumps(address) if address else None,
                 plate=str(vehicle["plate"]).strip().upper(), category=category,
                 model=vehicle.get("model"), pickup_at=pickup, return_at=ret,
                 pickup_location=str(data.get("pickup_location") or "")[:300],
                 return_location=str(data.get("return_location") or data.get("pickup_location")
                                     or "")[:300],
                 amount_due_chf=amount, deposit_chf=deposit)
    return clean


def upsert_booking(session: Session, tenant: Tenant, data: Any, now: datetime,
                   actor: str = "api") -> tuple[Booking, bool]:
    """Create or update a booking by its reference; re-plans reminders when times change."""
    clean = validate(data)
    booking = booking_by_ref(session, tenant.id, clean["ref"])
    created = booking is None
    customer = _customer(session, tenant, clean, booking)
    vehicle = _vehicle(session, tenant, clean)
    if booking is None:
        booking = Booking(tenant_id=tenant.id, ref=clean["ref"], created_at=now)
        session.add(booking)
    booking.customer_id, booking.vehicle_id = customer.id, vehicle.id
    for name in ("pickup_at", "return_at", "pickup_location", "return_location",
                 "amount_due_chf", "deposit_chf"):
        setattr(booking, name, clean[name])
    if booking.status == "cancelled":
        booking.status = "confirmed"
    booking.updated_at = now
    session.flush()
    plan_reminders(session, booking, now)
    session.add(AuditLog(tenant_id=tenant.id, actor=actor,
                         action="booking.created" if created else "booking.updated",
                         subject_type="booking", subject_id=booking.ref, details={},
                         created_at=now))
    return booking, created


def _customer(session: Session, tenant: Tenant, clean: dict[str, Any],
              booking: Booking | None) -> Customer:
    customer = booking.customer if booking is not None else None
    if customer is None:
        customer = session.scalar(select(Customer).where(
            Customer.tenant_id == tenant.id, Customer.phone_hash == crypto.lookup_hash(clean["phone"]),
            Customer.erased_at.is_(None)).limit(1))
    if customer is None:
        customer = Customer(tenant_id=tenant.id)
        session.add(customer)
    customer.name, customer.phone = clean["name"], clean["phone"]
    customer.phone_hash = crypto.lookup_hash(clean["phone"])
    customer.birth_date, customer.language = clean["birth_date"], clean["language"]
    customer.email, customer.address = clean["email"], clean["address"]
    session.flush()
    return customer


def _vehicle(session: Session, tenant: Tenant, clean: dict[str, Any]) -> Vehicle:
    vehicle = session.scalar(select(Vehicle).where(
        Vehicle.tenant_id == tenant.id, Vehicle.plate == clean["plate"]))
    if vehicle is None:
        vehicle = Vehicle(tenant_id=tenant.id, plate=clean["plate"])
        session.add(vehicle)
    vehicle.category = clean["category"]
    if clean.get("model"):
        vehicle.model = clean["model"]
    session.flush()
    return vehicle


def cancel_booking(session: Session, tenant: Tenant, ref: str, now: datetime,
                   actor: str = "api") -> Booking | None:
    """Cancel a booking of this tenant; its planned reminders are dropped."""
    booking = booking_by_ref(session, tenant.id, ref)
    if booking is None:
        return None
    booking.status, booking.updated_at = "cancelled", now
    plan_reminders(session, booking, now)
    session.add(AuditLog(tenant_id=tenant.id, actor=actor, action="booking.cancelled",
                         subject_type="booking", subject_id=booking.ref, details={},
                         created_at=now))
    return booking


def booking_json(booking: Booking) -> dict[str, Any]:
    """The stored booking as the API returns it."""
    customer, vehicle = booking.customer, booking.vehicle
    return {
        "ref": booking.ref, "status": booking.status,
        "renter": {"name": customer.name, "phone": customer.phone,
                   "birth_date": customer.birth_date, "language": customer.language},
        "vehicle": {"plate": vehicle.plate if vehicle else None,
                    "category": vehicle.category if vehicle else None},
        "pickup_at": booking.pickup_at.isoformat(), "return_at": booking.return_at.isoformat(),
        "pickup_location": booking.pickup_location, "return_location": booking.return_location,
        "amount_due_chf": str(booking.amount_due_chf), "deposit_chf": str(booking.deposit_chf),
    }
