"""Reminders: planned per booking, fired once when due, into the outbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import staff
from bot.db import Database
from bot.i18n import format_day, format_when
from bot.models import (
    Booking,
    Conversation,
    Customer,
    LicenceCheck,
    Payment,
    Reminder,
    Tenant,
    Vehicle,
)
from bot.notify import renter_conversation, send_to_renter
from bot.payment_events import retry_waiting
from bot.payments import paid_by_booking, still_open, warn_expiring_holds
from bot.reminders import BILL_KINDS, KINDS
from bot.repository import conversations_of_customers
from bot.services.ports import Clock

log = logging.getLogger(__name__)
TOO_LATE = timedelta(hours=1)  # a reminder more than this late is skipped, not sent
BATCH = 200
LICENCE_RETENTION_DAYS = 30


def purge_licence_images(session: Session, now: datetime) -> int:
    """Delete licence photos once their check was decided and the tenant's retention passed."""
    purged = 0
    decided = session.scalars(select(LicenceCheck).where(
        LicenceCheck.decided_at.is_not(None), LicenceCheck.image.is_not(None)))
    for check in decided:
        tenant = session.get(Tenant, check.tenant_id)
        days = float((tenant.setting("licence_retention_days") if tenant else None)
                     or LICENCE_RETENTION_DAYS)
        assert check.decided_at is not None
        if now - check.decided_at >= timedelta(days=days):
            check.image = None
            purged += 1
    if purged:
        log.info("%s licence photos deleted after their retention period", purged)
    return purged


class ReminderScheduler:
    """Turns due reminders into outbox rows; its cost grows with what is due, not all bookings.

    A batch is claimed and written to the outbox in one transaction (PostgreSQL: `FOR UPDATE
    SKIP LOCKED`, so two schedulers share the work; both databases: the claim is a
    compare-and-set UPDATE), so a reminder goes out once even when a scheduler dies midway.
    """

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def run_once(self, limit: int = 10_000) -> int:
        """Fire due reminders once, and look after what is waiting.

        Also re-announces unclaimed escalations to staff, warns staff of deposit holds that
        lapse soon, and applies Stripe events that waited for their payment row.
        Returns how many messages went to the outbox.
        """
        now = self.clock.now()
        fired = self.fire_due(now, limit)
        retry_waiting(self.db, now)
        with self.db.session() as s:
            purge_licence_images(s, now)
            return fired + staff.reannounce(s, now) + warn_expiring_holds(s, now)

    def fire_due(self, now: datetime, limit: int = 10_000) -> int:
        """Every reminder due by `now` (up to `limit`), batch by batch; returns how many went out."""
        fired = claimed = 0
        while claimed < limit:
            size = min(BATCH, limit - claimed)
            sent, taken = self._fire_batch(now, size)
            fired, claimed = fired + sent, claimed + taken
            if taken < size:  # nothing more due (or another scheduler holds the rest)
                break
        return fired

    def _fire_batch(self, now: datetime, size: int) -> tuple[int, int]:
        with self.db.session() as s:
            query = select(Reminder.id).where(Reminder.state == "planned", Reminder.due_at <= now) \
                .order_by(Reminder.due_at).limit(size)
            if self.db.is_postgres:
                query = query.with_for_update(skip_locked=True)
            ids = list(s.scalars(query))
            if not ids:
                return 0, 0
            claimed = list(s.scalars(update(Reminder).where(
                Reminder.id.in_(ids), Reminder.state == "planned",
            ).values(state="sent", sent_at=now).returning(Reminder.id)))
            reminders = list(s.scalars(select(Reminder).where(Reminder.id.in_(claimed))
                                       .execution_options(populate_existing=True)))
            batch = Batch.load(s, reminders)
            sent = 0
            for reminder in reminders:
                booking = batch.bookings[reminder.booking_id]
                reason = batch.skip_reason(reminder, booking, now)
                if reason is None and not self._send(s, batch, reminder, booking, now):
                    reason = "renter opted out"
                if reason:
                    reminder.state = "skipped"
                    log.info("reminder %s skipped: %s", reminder.id, reason)
                else:
                    sent += 1
            return sent, len(ids)

    @staticmethod
    def _send(s: Session, batch: "Batch", reminder: Reminder, booking: Booking,
              now: datetime) -> bool:
        tenant = batch.tenants[booking.tenant_id]
        customer = batch.customers[booking.customer_id]
        convs = batch.conversations.get(customer.id, [])
        conv, _ = renter_conversation(s, tenant, customer, convs)
        language = (conv.language if conv else None) or customer.language or tenant.default_language
        params = reminder_params(tenant, reminder, booking, language,
                                 batch.open_amount(booking), batch.bills.get(booking.id))
        return send_to_renter(s, tenant, customer, f"reminder.{reminder.kind}", params, now,
                              convs=convs, reminder=reminder.kind, reminder_id=reminder.id)


@dataclass
class Batch:
    """What a batch of due reminders needs, each loaded with one query, not one per reminder."""

    bookings: dict[int, Booking]
    tenants: dict[int, Tenant]
    customers: dict[int, Customer]
    vehicles: dict[int, Vehicle]  # held here so the session keeps them: booking.vehicle is free
    conversations: dict[int, list[Conversation]]
    licensed: set[int]  # bookings with an accepted licence
    paid: dict[int, Decimal]  # rental paid so far per booking
    bills: dict[int, Payment]  # the open QR-bill per booking

    @classmethod
    def load(cls, s: Session, reminders: list[Reminder]) -> "Batch":
        """Bookings, renters, cars, conversations, licences and payments of the reminders."""
        bookings = {b.id: b for b in s.scalars(select(Booking).where(
            Booking.id.in_({r.booking_id for r in reminders})))}
        ids = list(bookings)
        tenants = {t.id: t for t in s.scalars(select(Tenant).where(
            Tenant.id.in_({b.tenant_id for b in bookings.values()})))}
        customers = {c.id: c for c in s.scalars(select(Customer).where(
            Customer.id.in_({b.customer_id for b in bookings.values()})))}
        vehicles = {v.id: v for v in s.scalars(select(Vehicle).where(
            Vehicle.id.in_({b.vehicle_id for b in bookings.values() if b.vehicle_id})))}
        conversations: dict[int, list[Conversation]] = {}
        for tenant_id in tenants:
            conversations.update(conversations_of_customers(
                s, tenant_id, [c.id for c in customers.values() if c.tenant_id == tenant_id]))
        licensed: set[int] = set(s.scalars(select(LicenceCheck.booking_id).where(  # type: ignore[arg-type]
            LicenceCheck.booking_id.in_(ids),
            LicenceCheck.status.in_(("accepted", "approved")))))
        paid: dict[int, Decimal] = {}
        for tenant_id in tenants:
            paid.update(paid_by_booking(s, tenant_id, [b.id for b in bookings.values()
                                                       if b.tenant_id == tenant_id]))
        bills = {b.booking_id: b for b in s.scalars(select(Payment).where(
            Payment.booking_id.in_(ids), Payment.method == "qrbill",
            Payment.status == "open").order_by(Payment.id))}
        return cls(bookings, tenants, customers, vehicles, conversations, licensed, paid, bills)

    def open_amount(self, booking: Booking) -> Decimal:
        """What is still to pay on the rental."""
        return still_open(booking, self.paid.get(booking.id, Decimal("0")))

    def skip_reason(self, reminder: Reminder, booking: Booking, now: datetime) -> str | None:
        """Why a due reminder is not sent (any more), or None."""
        if booking.status == "cancelled":
            return "booking cancelled"
        if now - reminder.due_at > TOO_LATE:
            return "too late"
        if reminder.kind in BILL_KINDS:
            bill = self.bills.get(booking.id)
            return None if bill is not None and self.open_amount(booking) > 0 \
                else "the bill is paid"
        if getattr(booking, KINDS[reminder.kind].event) <= now:
            return "its moment has passed"
        if reminder.kind == "licence_missing" and booking.id in self.licensed:
            return "licence already accepted"
        if reminder.kind == "payment_open" and self.open_amount(booking) <= 0:
            return "nothing left to pay"
        return None


def reminder_params(tenant: Tenant, reminder: Reminder, booking: Booking, language: str,
                    open_chf: Decimal, bill: Payment | None = None) -> dict[str, Any]:
    """What a reminder's text needs: when, where, which car, the late fee, what is open."""
    if reminder.kind in BILL_KINDS:
        assert bill is not None and bill.expires_at is not None
        return {"ref": booking.ref, "amount": open_chf, "reference": bill.reference,
                "due": format_day(bill.expires_at.astimezone(tenant.zone).date(), language),
                "fee": Decimal(str(tenant.setting("qr_late_fee_chf") or 0))}
    field = KINDS[reminder.kind].event
    vehicle = booking.vehicle
    return {
        "ref": booking.ref,
        "when": format_when(getattr(booking, field), language, tenant.setting("timezone")),
        "location": booking.pickup_location if field == "pickup_at" else booking.return_location,
        "vehicle": (vehicle.model or vehicle.plate) if vehicle else booking.ref,
        "fee": Decimal(str(tenant.setting("late_return_fee_chf") or 0)), "amount": open_chf}
