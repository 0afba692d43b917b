"""Payments of a booking: open a checkout link once, record the outcome, tell the renter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import AuditLog, Booking, Customer, Payment, Tenant
from bot.notify import send_to_renter
from bot.services.payments import PaymentGateway

LINK_VALID = timedelta(hours=24)


@dataclass(frozen=True)
class Checkout:
    """The link to send and whether it is the one already open."""

    payment: Payment
    reused: bool


def paid_amount(session: Session, booking: Booking) -> Decimal:
    """What the renter has paid on the rental so far."""
    total = session.scalar(select(func.coalesce(func.sum(Payment.amount_chf), 0)).where(
        Payment.tenant_id == booking.tenant_id, Payment.booking_id == booking.id,
        Payment.kind == "rental", Payment.status == "paid"))
    return Decimal(total or 0)


def open_amount(session: Session, booking: Booking) -> Decimal:
    """What is still to pay on the rental."""
    return max(Decimal("0"), Decimal(booking.amount_due_chf) - paid_amount(session, booking))


def open_checkout(session: Session, booking: Booking, gateway: PaymentGateway, language: str,
                  now: datetime) -> Checkout | None:
    """The open payment link of the booking, or a new one; None when nothing is due."""
    existing = session.scalar(select(Payment).where(
        Payment.tenant_id == booking.tenant_id, Payment.booking_id == booking.id,
        Payment.kind == "rental", Payment.status == "open", Payment.url.is_not(None),
    ).order_by(Payment.id.desc()).limit(1))
    if existing is not None and existing.expires_at and existing.expires_at > now:
        return Checkout(existing, reused=True)
    amount = open_amount(session, booking)
    if amount <= 0:
        return None
    if existing is not None:
        existing.status = "expired"
    expires_at = now + LINK_VALID
    payment = Payment(tenant_id=booking.tenant_id, booking_id=booking.id, kind="rental",
                      method=gateway.name, amount_chf=amount, status="open",
                      expires_at=expires_at, created_at=now)
    session.add(payment)
    session.flush()
    link = gateway.create_checkout(payment_id=payment.id, amount_chf=amount, language=language,
                                   description=f"Booking {booking.ref}",
                                   idempotency_key=f"crms-payment-{payment.id}",
                                   expires_at=expires_at)
    payment.url, payment.provider_ref = link.url, link.provider_ref
    return Checkout(payment, reused=False)


def record_outcome(session: Session, payment: Payment, paid: bool, now: datetime,
                   actor: str) -> bool:
    """Mark an open payment paid or failed and tell the renter; False if already settled."""
    if payment.status != "open":
        return False
    payment.status, payment.updated_at = ("paid" if paid else "failed"), now
    booking = session.get(Booking, payment.booking_id)
    tenant = session.get(Tenant, payment.tenant_id)
    assert booking is not None and tenant is not None
    customer = session.get(Customer, booking.customer_id)
    session.add(AuditLog(tenant_id=tenant.id, actor=actor,
                         action="payment.paid" if paid else "payment.failed",
                         subject_type="payment", subject_id=str(payment.id),
                         details={"booking": booking.ref, "amount_chf": str(payment.amount_chf)},
                         created_at=now))
    if customer is not None:
        send_to_renter(session, tenant, customer,
                       "payment.confirmed" if paid else "payment.failed",
                       {"ref": booking.ref, "amount": Decimal(payment.amount_chf)}, now)
    return True
