"""QR-bills of bookings and their reconciliation from the bank's camt.054 files.

A bill is a payment row (method `qrbill`, status open, its QRR or SCOR reference naming the
row). Each booked credit the bank reports becomes its own row (method `bank`, status paid,
the bank's reference as `provider_ref`): the bill is settled when its credits cover it, a
partial payment leaves the rest open, an overpayment is settled and flagged to staff, and a
reversal undoes a credit. Every bank transaction is imported once (its reference is claimed
in `processed_events`), so the same or an overlapping file changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import documents, qrbills
from bot.camt import Transaction, parse
from bot.i18n import format_day
from bot.invoice import InvoiceLines, render
from bot.models import Booking, Customer, Document, Payment, ProcessedEvent, Reminder, Tenant
from bot.payments import audit, open_amount, tell_renter, tell_staff
from bot.reminders import BILL_KINDS, plan_bill_reminders

log = logging.getLogger(__name__)
BILL_LINK_DAYS = 60
ACTOR = "bank:camt.054"


def issue_bill(session: Session, booking: Booking, now: datetime) -> Payment | None:
    """The booking's open QR-bill for what is open, or a new one; None when nothing is due.

    Raises:
        QrBillError: the tenant's creditor data cannot make a valid bill.

    """
    tenant = session.get(Tenant, booking.tenant_id)
    assert tenant is not None
    creditor = qrbills.creditor_of(tenant)
    amount = open_amount(session, booking)
    bills = list(session.scalars(select(Payment).where(
        Payment.tenant_id == booking.tenant_id, Payment.booking_id == booking.id,
        Payment.method == "qrbill", Payment.status == "open")))
    for bill in bills:
        if bill.amount_chf - received(session, bill) == amount and amount > 0:
            return bill
        bill.status, bill.updated_at = "replaced", now  # the amount changed: a new bill
    if amount <= 0:
        return None
    bill = Payment(tenant_id=booking.tenant_id, booking_id=booking.id, kind="rental",
                   method="qrbill", amount_chf=amount, status="open",
                   expires_at=now + timedelta(days=creditor.payment_days),  # due date
                   created_at=now, updated_at=now)
    session.add(bill)
    session.flush()
    bill.reference = qrbills.reference_for(creditor, tenant.id, bill.id)
    assert bill.expires_at is not None
    plan_bill_reminders(session, tenant, booking.id, bill.expires_at, now)
    return bill


def received(session: Session, bill: Payment) -> Decimal:
    """What the bank reported paid against a bill (reversals taken off)."""
    total = session.scalar(select(func.coalesce(func.sum(Payment.amount_chf), 0)).where(
        Payment.tenant_id == bill.tenant_id, Payment.method == "bank",
        Payment.reference == bill.reference, Payment.status == "paid"))
    return Decimal(total or 0)


def bill_pdf(session: Session, bill: Payment, language: str) -> bytes:
    """The A4 invoice with the payment part, in the renter's language."""
    booking = session.get(Booking, bill.booking_id)
    tenant = session.get(Tenant, bill.tenant_id)
    assert booking is not None and tenant is not None and bill.reference
    customer = session.get(Customer, booking.customer_id) if booking.customer_id else None
    creditor = qrbills.creditor_of(tenant)
    debtor = qrbills.debtor_of(customer)
    remaining = Decimal(bill.amount_chf) - received(session, bill)
    period = (f"{format_day(booking.pickup_at.date(), language)} – "
              f"{format_day(booking.return_at.date(), language)}")
    vehicle = booking.vehicle
    car = (vehicle.model or vehicle.plate) if vehicle else booking.ref
    bill_code = qrbills.build(tenant, remaining, bill.reference, debtor, language,
                              info=f"{booking.ref} {period}")
    assert bill.expires_at is not None
    lines = InvoiceLines(number=f"{booking.ref}-{bill.id}", booking_ref=booking.ref,
                         rental=f"{car}, {period}", total=Decimal(booking.amount_due_chf),
                         paid=Decimal(booking.amount_due_chf) - remaining, amount=remaining,
                         issued=bill.created_at.date(), due=bill.expires_at.date())
    return render(bill_code, tenant.name, creditor, lines, debtor, language)


def store_pdf(session: Session, bill: Payment, language: str, now: datetime) -> Document:
    """The bill's PDF kept for sending (encrypted at rest, a signed link)."""
    booking = session.get(Booking, bill.booking_id)
    assert booking is not None
    return documents.store(session, bill.tenant_id, f"QR-Rechnung-{booking.ref}.pdf",
                           "application/pdf", bill_pdf(session, bill, language), now,
                           booking_id=booking.id, ttl=timedelta(days=BILL_LINK_DAYS))


@dataclass
class Outcome:
    """What happened to one bank transaction (the `import-camt --json` rows)."""

    key: str
    result: str  # matched | partial | overpaid | reversed | unmatched | already_imported | pending
    amount: str
    currency: str
    reference: str | None
    booking: str | None = None
    reason: str | None = None


def import_camt(db: Any, data: bytes, now: datetime, tenant_id: int | None = None,
                ) -> dict[str, list[dict[str, Any]]]:
    """Reconcile a camt.054 file; the rows grouped by result.

    tenant_id: only that tenant's bills are matched (the upload endpoint); None matches every
    tenant's (the command line).
    """
    report: dict[str, list[dict[str, Any]]] = {key: [] for key in (
        "matched", "partial", "overpaid", "reversed", "unmatched", "already_imported",
        "pending")}
    for tx in parse(data):
        outcome = _import_one(db, tx, now, tenant_id)
        report[outcome.result].append(asdict(outcome))
    log.info("camt.054 import: %s", {k: len(v) for k, v in report.items()})
    return report


def _import_one(db: Any, tx: Transaction, now: datetime, tenant_id: int | None) -> Outcome:
    base = Outcome(tx.key, "pending", str(tx.amount), tx.currency, tx.reference)
    if not tx.booked:  # pending entries count only once the bank books them
        return base
    try:
        with db.session() as s:
            s.add(ProcessedEvent(source="camt", event_id=tx.key[:128], created_at=now))
            s.flush()
            return apply(s, tx, now, tenant_id, base)
    except IntegrityError:
        base.result = "already_imported"
        return base


def apply(s: Session, tx: Transaction, now: datetime, tenant_id: int | None,
          outcome: Outcome) -> Outcome:
    """Match one booked transaction to our bills (in the caller's transaction)."""
    bill = _bill_of(s, tx, tenant_id)
    if bill is None:
        outcome.result, outcome.reason = "unmatched", _why_unmatched(tx)
        return outcome
    booking = s.get(Booking, bill.booking_id)
    outcome.booking = booking.ref if booking else None
    if not tx.credit or tx.reversal:
        return _reverse(s, bill, tx, now, outcome)
    s.add(Payment(tenant_id=bill.tenant_id, booking_id=bill.booking_id, kind="rental",
                  method="bank", amount_chf=tx.amount, status="paid", paid_with="qrbill",
                  reference=bill.reference, provider_ref=tx.key[:128], created_at=now,
                  updated_at=now))
    s.flush()
    got = received(s, bill)
    if got < bill.amount_chf:
        outcome.result = "partial"
        audit(s, bill, ACTOR, "payment.partial", now, received=str(got), bank_ref=tx.key)
        tell_renter(s, bill, "payment.partial", now, received=tx.amount,
                    remaining=Decimal(bill.amount_chf) - got)
        return outcome
    bill.status, bill.updated_at, bill.paid_with = "settled", now, "qrbill"
    s.execute(update(Reminder).where(  # paid: no more payment reminders
        Reminder.booking_id == bill.booking_id, Reminder.kind.in_(BILL_KINDS),
        Reminder.state == "planned").values(state="skipped"))
    outcome.result = "matched" if got == bill.amount_chf else "overpaid"
    audit(s, bill, ACTOR, "payment.paid", now, received=str(got), bank_ref=tx.key)
    tell_renter(s, bill, "payment.confirmed", now, amount=got)
    if outcome.result == "overpaid":
        tell_staff(s, bill, "staff.overpaid", now, over=got - Decimal(bill.amount_chf))
    return outcome


def _bill_of(s: Session, tx: Transaction, tenant_id: int | None) -> Payment | None:
    ours = qrbills.read_reference(tx.reference or "")
    if ours is None or tx.currency != "CHF" or (tenant_id is not None and ours[0] != tenant_id):
        return None
    bill = s.get(Payment, ours[1])
    if bill is None or bill.tenant_id != ours[0] or bill.method != "qrbill" \
            or (bill.reference or "") != (tx.reference or "").replace(" ", "").upper():
        return None
    return bill


def _why_unmatched(tx: Transaction) -> str:
    if tx.currency != "CHF":
        return f"currency {tx.currency}: bills are in CHF"
    if not tx.reference:
        return "no structured reference"
    return "reference of no open bill"


def _reverse(s: Session, bill: Payment, tx: Transaction, now: datetime,
             outcome: Outcome) -> Outcome:
    credit = s.scalar(select(Payment).where(
        Payment.tenant_id == bill.tenant_id, Payment.method == "bank",
        Payment.reference == bill.reference, Payment.status == "paid",
        Payment.amount_chf == tx.amount).order_by(Payment.id.desc()).limit(1))
    if credit is None:
        outcome.result, outcome.reason = "unmatched", "a reversal of no recorded credit"
        return outcome
    credit.status, credit.updated_at = "reversed", now
    if bill.status == "settled" and received(s, bill) < bill.amount_chf:
        bill.status, bill.updated_at = "open", now
        tenant = s.get(Tenant, bill.tenant_id)
        assert tenant is not None and bill.expires_at is not None
        plan_bill_reminders(s, tenant, bill.booking_id, bill.expires_at, now)
    outcome.result = "reversed"
    audit(s, bill, ACTOR, "payment.reversed", now, amount=str(tx.amount), bank_ref=tx.key)
    tell_staff(s, bill, "staff.reversed", now, reversed=tx.amount)
    return outcome
