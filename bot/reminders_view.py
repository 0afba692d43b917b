"""The planned reminders as rows for `crms-bot reminders list`."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Booking, Reminder
from bot.repository import conversations_of_customer

ZURICH = ZoneInfo("Europe/Zurich")


def list_reminders(session: Session, ref: str | None = None) -> list[dict[str, Any]]:
    """Each reminder with booking, kind, channel, due_at (UTC and Europe/Zurich) and state."""
    query = select(Reminder, Booking).join(Booking, Booking.id == Reminder.booking_id)
    if ref:
        query = query.where(Booking.ref == ref.upper())
    rows = []
    for reminder, booking in session.execute(query.order_by(Reminder.due_at, Reminder.id)):
        convs = conversations_of_customer(session, booking.tenant_id, booking.customer_id)
        rows.append({"booking": booking.ref, "kind": reminder.kind,
                     "channel": convs[0].channel if convs else "sms",
                     "due_at": reminder.due_at.isoformat(),
                     "due_at_local": reminder.due_at.astimezone(ZURICH).isoformat(),
                     "state": reminder.state})
    return rows
