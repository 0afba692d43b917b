"""Payments of a booking: open a checkout once, record what the provider reports, tell people.

A payment row is committed (status `creating`) before the provider is asked, and the row's
id travels to the provider as metadata: whatever the provider reports later finds the row,
even when its report overtakes our own bookkeeping.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot import crypto
from bot.models import AuditLog, Booking, Conversation, Customer, Payment, Tenant
from bot.notify import renter_conversation, send_to_renter
from bot.services.payments import CheckoutRequest, PaymentError, PaymentGateway

log = logging.getLogger(__name__)
LINK_VALID = timedelta(hours=23)  # Stripe takes 30 minutes to 24 hours
CREATING_STALE = timedelta(minutes=10)  # a `creating` row older than this was never finished
HOLD_DAYS = 7  # a card authorisation lapses after about 7 days
HOLD_WARNING = timedelta(days=1)
SETTLED_DEPOSIT = ("captured", "released")


@dataclass(frozen=True)
class Checkout:
    """The payment to send a link for; `ready` when its link exists already."""

    payment: Payment
    ready: bool


def paid_by_booking(session: Session, tenant_id: int, booking_ids: list[int],
                    ) -> dict[int, Decimal]:
    """What the renters have paid on each rental so far (refunds taken off), one query."""
    rows = session.execute(select(
        Payment.booking_id, func.sum(Payment.amount_chf - func.coalesce(Payment.refunded_chf, 0))
    ).where(Payment.tenant_id == tenant_id, Payment.booking_id.in_(booking_ids),
            Payment.kind == "rental", Payment.status == "paid").group_by(Payment.booking_id))
    return {booking_id: Decimal(total or 0) for booking_id, total in rows}


def paid_amount(session: Session, booking: Booking) -> Decimal:
    """What the renter has paid on the rental so far (refunds taken off)."""
    return paid_by_booking(session, booking.tenant_id, [booking.id]).get(booking.id, Decimal("0"))


def still_open(booking: Booking, paid: Decimal) -> Decimal:
    """What is still to pay on the rental when `paid` is paid."""
    return max(Decimal("0"), Decimal(booking.amount_due_chf) - paid)


def open_amount(session: Session, booking: Booking) -> Decimal:
    """What is still to pay on the rental."""
    return still_open(booking, paid_amount(session, booking))


def payments_of(session: Session, booking: Booking, kind: str | None = None) -> list[Payment]:
    """The booking's payments, oldest first (one tenant's only)."""
    query = select(Payment).where(Payment.tenant_id == booking.tenant_id,
                                  Payment.booking_id == booking.id)
    if kind is not None:
        query = query.where(Payment.kind == kind)
    return list(session.scalars(query.order_by(Payment.id)))


def deposit_of(session: Session, booking: Booking) -> Payment | None:
    """The booking's current deposit hold (not failed, expired or in error)."""
    live = [p for p in payments_of(session, booking, "deposit")
            if p.status in ("creating", "open", "authorised", *SETTLED_DEPOSIT)]
    return live[-1] if live else None


def request_checkout(session: Session, booking: Booking, kind: str, method: str,
                     now: datetime) -> Checkout | None:
    """The booking's open checkout of this kind, or a new `creating` row; None if nothing is due.

    kind: rental (the open amount) or deposit (a card hold of the booking's deposit).
    """
    current = [p for p in payments_of(session, booking, kind)
               if p.status in ("creating", "open") and p.method == method]
    for payment in current:
        if payment.status == "open" and payment.expires_at and payment.expires_at > now:
            return Checkout(payment, ready=True)
        if payment.status == "creating" and payment.created_at > now - CREATING_STALE:
            return Checkout(payment, ready=False)  # its job runs (again: the key is the same)
        payment.status, payment.updated_at = "expired", now
    if kind == "deposit":
        held = deposit_of(session, booking)
        amount = Decimal(booking.deposit_chf or 0) if held is None else Decimal("0")
    else:
        amount = open_amount(session, booking)
    if amount <= 0:
        return None
    tenant = session.get(Tenant, booking.tenant_id)
    payment = Payment(tenant_id=booking.tenant_id, booking_id=booking.id, kind=kind,
                      method=method, amount_chf=amount, status="creating",
                      account=tenant.setting("stripe_account") if tenant else None,
                      expires_at=now + LINK_VALID, created_at=now, updated_at=now)
    session.add(payment)
    session.flush()
    return Checkout(payment, ready=False)


def return_token(payment_id: int) -> str:
    """A token for the success and cancel pages of one payment (not guessable)."""
    return f"{payment_id}-{crypto.mac(f'pay:{payment_id}'.encode()).hex()[:20]}"


def payment_of_token(token: str) -> int | None:
    """The payment id a return token names, or None when it is forged."""
    head, _, _ = token.partition("-")
    if not head.isdigit() or token != return_token(int(head)):
        return None
    return int(head)


def create_link(db: Any, gateway: PaymentGateway, payment_id: int, public_url: str,
                language: str, now: datetime) -> Payment | PaymentError | None:
    """Ask the provider for the checkout of a `creating` row (a job: never inside a turn).

    Returns the payment with its link, the provider's error, or None when the row is
    already settled (paid meanwhile, expired).
    """
    with db.session() as s:
        payment = s.get(Payment, payment_id)
        if payment is None or payment.status not in ("creating", "open"):
            return None
        if payment.status == "open" and payment.url:
            s.expunge(payment)
            return payment
        booking = s.get(Booking, payment.booking_id)
        assert booking is not None
        customer = s.get(Customer, booking.customer_id)
        token = return_token(payment.id)
        base = public_url.rstrip("/")
        assert payment.expires_at is not None
        request = CheckoutRequest(
            payment_id=payment.id, tenant_id=payment.tenant_id, booking_ref=booking.ref,
            amount_chf=Decimal(payment.amount_chf), language=language,
            expires_at=payment.expires_at, hold=payment.kind == "deposit",
            account=payment.account, email=customer.email if customer else None,
            success_url=f"{base}/pay/{token}/done?lang={language}",
            cancel_url=f"{base}/pay/{token}/cancelled?lang={language}")
    try:
        link = gateway.create_checkout(request, idempotency_key=f"crms-payment-{payment_id}")
    except PaymentError as exc:
        with db.session() as s:
            s.execute(update(Payment).where(Payment.id == payment_id,
                                            Payment.status == "creating")
                      .values(status="error", error=str(exc)[:300], updated_at=now))
        return exc
    with db.session() as s:  # only a row still waiting for its link: a webhook may have won
        s.execute(update(Payment).where(Payment.id == payment_id, Payment.status == "creating")
                  .values(status="open", url=link.url, provider_ref=link.provider_ref,
                          updated_at=now))
        s.execute(update(Payment).where(Payment.id == payment_id, Payment.provider_ref.is_(None))
                  .values(provider_ref=link.provider_ref, url=link.url))
        payment = s.get(Payment, payment_id)
        assert payment is not None
        s.expunge(payment)
    return payment


def audit(session: Session, payment: Payment, actor: str, action: str, now: datetime,
          **details: Any) -> None:
    """An audit entry about a payment (amounts and references, no personal data)."""
    booking = session.get(Booking, payment.booking_id)
    session.add(AuditLog(tenant_id=payment.tenant_id, actor=actor, action=action,
                         subject_type="payment", subject_id=str(payment.id),
                         details={"booking": booking.ref if booking else None,
                                  "amount_chf": str(payment.amount_chf), "kind": payment.kind,
                                  **details}, created_at=now))


def tell_renter(session: Session, payment: Payment, key: str, now: datetime,
                **params: Any) -> bool:
    """A message about the payment to the booking's renter, in their language and channel."""
    booking = session.get(Booking, payment.booking_id)
    tenant = session.get(Tenant, payment.tenant_id)
    if booking is None or tenant is None or booking.customer_id is None:
        return False
    customer = session.get(Customer, booking.customer_id)
    if customer is None:
        return False
    return send_to_renter(session, tenant, customer, key,
                          {"ref": booking.ref, "amount": Decimal(payment.amount_chf), **params},
                          now)


def tell_staff(session: Session, payment: Payment, key: str, now: datetime,
               **params: Any) -> None:
    """A message about the payment in the staff group (the renter's topic when there is one)."""
    from bot import staff

    booking = session.get(Booking, payment.booking_id)
    tenant = session.get(Tenant, payment.tenant_id)
    if booking is None or tenant is None:
        return
    conv: Conversation | None = None
    customer = session.get(Customer, booking.customer_id) if booking.customer_id else None
    if customer is not None:
        conv, _ = renter_conversation(session, tenant, customer)
    staff.post(session, tenant, conv, now, key, ref=booking.ref,
               amount=Decimal(payment.amount_chf), payment=payment.id, **params)


def record_outcome(session: Session, payment: Payment, paid: bool, now: datetime,
                   actor: str, paid_with: str | None = None) -> bool:
    """Mark a rental payment paid or failed and tell the renter; False if already settled."""
    if payment.status not in ("creating", "open", "pending"):
        return False
    payment.status, payment.updated_at = ("paid" if paid else "failed"), now
    if paid:
        payment.paid_with = paid_with or payment.paid_with or "online"
    audit(session, payment, actor, "payment.paid" if paid else "payment.failed", now,
          paid_with=payment.paid_with)
    tell_renter(session, payment, "payment.confirmed" if paid else "payment.failed", now)
    return True


def record_hold(session: Session, payment: Payment, intent_ref: str | None,
                authorised_at: datetime, now: datetime, actor: str) -> bool:
    """A deposit authorised on the renter's card; False if it was already recorded."""
    if payment.status not in ("creating", "open", "pending"):
        return False
    payment.status, payment.updated_at, payment.paid_with = "authorised", now, "card"
    payment.intent_ref = intent_ref or payment.intent_ref
    payment.hold_until = authorised_at + timedelta(days=HOLD_DAYS)
    audit(session, payment, actor, "deposit.authorised", now)
    tell_renter(session, payment, "payment.deposit_held", now)
    return True


def expiring_holds(session: Session, now: datetime) -> list[Payment]:
    """Authorised deposits that lapse within a day and staff were not warned about."""
    return list(session.scalars(select(Payment).where(
        Payment.kind == "deposit", Payment.status == "authorised",
        Payment.hold_until <= now + HOLD_WARNING, Payment.warned_at.is_(None))
        .order_by(Payment.id).limit(200)))


def warn_expiring_holds(session: Session, now: datetime) -> int:
    """Tell staff, once per hold, that a deposit authorisation lapses soon."""
    from bot.i18n import format_when

    holds = expiring_holds(session, now)
    for payment in holds:
        tenant = session.get(Tenant, payment.tenant_id)
        assert payment.hold_until is not None and tenant is not None
        payment.warned_at = now
        tell_staff(session, payment, "staff.deposit_expiring", now,
                   until=format_when(payment.hold_until, tenant.default_language,
                                     tenant.setting("timezone")))
    return len(holds)


def settle_deposit(db: Any, gateway: PaymentGateway, payment_id: int, action: str,
                   amount: Decimal | None, author: str, now: datetime) -> str:
    """Capture (all or part) or release a deposit hold at the provider (a job).

    The row was marked `capturing` or `releasing` by the staff command; the idempotency key
    makes a retried job safe.
    """
    with db.session() as s:
        payment = s.get(Payment, payment_id)
        if payment is None or payment.status not in ("capturing", "releasing"):
            return "nothing to do"
        intent, account = payment.intent_ref or "", payment.account
        wanted = min(amount if amount is not None else Decimal(payment.amount_chf),
                     Decimal(payment.amount_chf))
    try:
        if action == "capture":
            captured = gateway.capture(intent, wanted, account,
                                       idempotency_key=f"crms-deposit-{payment_id}-capture")
        else:
            gateway.release(intent, account, idempotency_key=f"crms-deposit-{payment_id}-release")
            captured = Decimal("0")
    except PaymentError as exc:
        with db.session() as s:  # still held: staff can try again or look at Stripe
            payment = s.get(Payment, payment_id)
            assert payment is not None
            payment.status, payment.error = "authorised", str(exc)[:300]
            tell_staff(s, payment, "staff.deposit_failed", now, error=str(exc)[:300])
        return "failed"
    with db.session() as s:
        payment = s.get(Payment, payment_id)
        assert payment is not None
        payment.status = "captured" if action == "capture" else "released"
        payment.captured_chf, payment.updated_at, payment.error = captured, now, None
        audit(s, payment, f"staff:{author}"[:64], f"deposit.{payment.status}", now,
              captured_chf=str(captured))
        if action == "capture":
            tell_renter(s, payment, "payment.deposit_captured", now, captured=captured)
        else:
            tell_renter(s, payment, "payment.deposit_released", now)
        tell_staff(s, payment, "staff.deposit_done", now, name=author,
                   result=f"{payment.status} CHF {captured}")
    return payment.status
