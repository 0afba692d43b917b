"""Reminders: planned per booking, fired once when due, into the outbox."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot import staff
from bot.db import Database
from bot.i18n import format_when
from bot.models import Booking, Customer, LicenceCheck, Reminder, Tenant
from bot.notify import renter_conversation, send_to_renter
from bot.payment_events import retry_waiting
from bot.payments import warn_expiring_holds
from bot.services.ports import Clock

log = logging.getLogger(__name__)
OFFSETS = {
    "pickup_24h": ("pickup_at", timedelta(hours=24)),
    "pickup_2h": ("pickup_at", timedelta(hours=2)),
    "return_24h": ("return_at", timedelta(hours=24)),
    "return_2h": ("return_at", timedelta(hours=2)),
}
TOO_LATE = timedelta(hours=1)  # a reminder more than this late is skipped, not sent


def plan_reminders(session: Session, booking: Booking, now: datetime) -> None:
    """(Re-)plan a booking's reminders; unsent ones follow changed times, sent ones stay."""
    existing = {r.kind: r for r in session.scalars(
        select(Reminder).where(Reminder.booking_id == booking.id))}
    if booking.status == "cancelled":
        session.execute(delete(Reminder).where(
            Reminder.booking_id == booking.id, Reminder.state == "planned"))
        return
    for kind, (field, offset) in OFFSETS.items():
        due = getattr(booking, field) - offset
        reminder = existing.get(kind)
        if reminder is None:
            session.add(Reminder(tenant_id=booking.tenant_id, booking_id=booking.id, kind=kind,
                                 due_at=due, state="planned" if due > now else "skipped"))
        elif reminder.state in ("planned", "skipped") and reminder.due_at != due:
            reminder.due_at, reminder.state = due, "planned" if due > now else "skipped"


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
    """Turns due reminders into outbox rows; its cost grows with what is due, not all bookings."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def run_once(self, limit: int = 200) -> int:
        """Fire due reminders once, and look after what is waiting.

        Also re-announces unclaimed escalations to staff, warns staff of deposit holds that
        lapse soon, and applies Stripe events that waited for their payment row.

        Returns how many messages went to the outbox.
        """
        now = self.clock.now()
        with self.db.session() as s:
            due = list(s.scalars(select(Reminder.id).where(
                Reminder.state == "planned", Reminder.due_at <= now,
            ).order_by(Reminder.due_at).limit(limit)))
        fired = sum(1 for reminder_id in due if self._fire(reminder_id, now))
        retry_waiting(self.db, now)  # Stripe events that overtook their payment row
        with self.db.session() as s:
            purge_licence_images(s, now)
            return fired + staff.reannounce(s, now) + warn_expiring_holds(s, now)

    def _fire(self, reminder_id: int, now: datetime) -> bool:
        with self.db.session() as s:
            # Claim by compare-and-set, in the same transaction as the outbox row.
            claimed = s.execute(update(Reminder).where(
                Reminder.id == reminder_id, Reminder.state == "planned",
            ).values(state="sent", sent_at=now)).rowcount  # type: ignore[attr-defined]
            if claimed != 1:
                return False
            reminder = s.get(Reminder, reminder_id)
            assert reminder is not None
            booking = s.get(Booking, reminder.booking_id)
            assert booking is not None
            reason = self._skip_reason(reminder, booking, now)
            if reason is None and not self._send(s, reminder, booking, now):
                reason = "renter opted out"
            if reason:
                reminder.state = "skipped"
                log.info("reminder %s skipped: %s", reminder_id, reason)
                return False
            return True

    @staticmethod
    def _skip_reason(reminder: Reminder, booking: Booking, now: datetime) -> str | None:
        if booking.status == "cancelled":
            return "booking cancelled"
        if now - reminder.due_at > TOO_LATE:
            return "too late"
        return None

    @staticmethod
    def _send(s: Session, reminder: Reminder, booking: Booking, now: datetime) -> bool:
        tenant = s.get(Tenant, booking.tenant_id)
        customer = s.get(Customer, booking.customer_id)
        assert tenant is not None and customer is not None
        conv, _ = renter_conversation(s, tenant, customer)
        language = (conv.language if conv else None) or customer.language or tenant.default_language
        field = OFFSETS[reminder.kind][0]
        vehicle = booking.vehicle
        params = {"when": format_when(getattr(booking, field), language, tenant.setting("timezone")),
                  "location": booking.pickup_location if field == "pickup_at"
                  else booking.return_location,
                  "vehicle": (vehicle.model or vehicle.plate) if vehicle else booking.ref}
        return send_to_renter(s, tenant, customer, f"reminder.{reminder.kind}", params, now,
                              reminder=reminder.kind)
