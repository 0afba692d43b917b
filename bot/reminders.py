"""Reminder planning: which reminders a booking gets, and when, in the tenant's local time.

Offsets are counted on the local wall clock (Europe/Zurich by default), so a reminder "24 h
before a 09:00 pickup" is at 09:00 the day before even across a daylight-saving change; due
times are stored in UTC. A non-urgent reminder that falls in the tenant's quiet hours (and,
when the tenant says so, on a public holiday of its canton) moves to the end of them if that
is still before the event, otherwise to just before they start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from bot.models import Booking, Reminder, Tenant


@dataclass(frozen=True)
class Kind:
    """A reminder kind: before which event, how many hours by default, whether urgent."""

    event: str  # pickup_at | return_at
    hours: float
    urgent: bool = False  # sent even in quiet hours


KINDS: dict[str, Kind] = {
    "payment_open": Kind("pickup_at", 72),
    "licence_missing": Kind("pickup_at", 48),
    "pickup_24h": Kind("pickup_at", 24),
    "pickup_2h": Kind("pickup_at", 2, urgent=True),
    "return_24h": Kind("return_at", 24),
    "return_2h": Kind("return_at", 2, urgent=True),
}
BILL_KINDS = ("bill_first", "bill_second", "bill_final")  # an open QR-bill, after its due date
BILL_DAYS = (3, 10, 20)  # days after the due date, unless the tenant sets `qr_reminder_days`
BILL_HOUR = time(9, 0)  # local time the payment reminders go
SEND_WHILE_AHEAD = frozenset({"pickup_2h"})  # sent at once if planned late but the event is ahead
QUIET_MARGIN = timedelta(minutes=1)


def offsets(tenant: Tenant) -> dict[str, float | None]:
    """Hours before the event per kind: the tenant's `reminder_hours` over the defaults.

    A kind set to null (or 0) is not sent for that tenant.
    """
    custom = tenant.setting("reminder_hours") or {}
    return {kind: custom.get(kind, spec.hours) for kind, spec in KINDS.items()}


def due_time(event: datetime, hours: float, tz: ZoneInfo) -> datetime:
    """`hours` before the event on the local wall clock, in UTC."""
    local = event.astimezone(tz)
    wall = local.replace(tzinfo=None) - timedelta(hours=hours)
    return _localize(wall, tz).astimezone(timezone.utc)


def _localize(wall: datetime, tz: ZoneInfo) -> datetime:
    """A local wall time as an aware datetime; a time the spring change skips moves on."""
    aware = wall.replace(tzinfo=tz)
    back = aware.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None)
    if back != wall:  # 02:30 on the spring change does not exist: 03:30 does
        aware = (wall + timedelta(hours=1)).replace(tzinfo=tz)
    return aware


@lru_cache(maxsize=64)
def _holidays(canton: str | None, year: int) -> frozenset[date]:
    import holidays

    return frozenset(holidays.country_holidays("CH", subdiv=canton or None, years=year))


def quiet_spans(tenant: Tenant, around: datetime, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The tenant's quiet periods (local, merged) in the days around a moment."""
    start_text, end_text = tenant.setting("quiet_hours") or ["21:00", "08:00"]
    return list(_spans(start_text, end_text, bool(tenant.setting("holidays_quiet")),
                       tenant.setting("canton"), around.astimezone(tz).date()))


@lru_cache(maxsize=4096)
def _spans(start_text: str, end_text: str, with_holidays: bool, canton: str | None,
           day0: date) -> tuple[tuple[datetime, datetime], ...]:
    start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    spans: list[tuple[datetime, datetime]] = []
    for offset in range(-3, 4):
        day = day0 + timedelta(days=offset)
        if start != end:
            begin = datetime.combine(day, start)
            finish = datetime.combine(day + timedelta(days=1 if end <= start else 0), end)
            spans.append((begin, finish))
        if with_holidays and day in _holidays(canton, day.year):
            midnight = datetime.combine(day, time())
            spans.append((midnight, midnight + timedelta(days=1)))
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for begin, finish in spans:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return tuple(merged)


def out_of_quiet(due: datetime, event: datetime, tenant: Tenant, tz: ZoneInfo) -> datetime:
    """Move a due time out of quiet hours: to their end if before the event, else before them."""
    wall = due.astimezone(tz).replace(tzinfo=None)
    for begin, finish in quiet_spans(tenant, due, tz):
        if begin <= wall < finish:
            after = _localize(finish, tz).astimezone(timezone.utc)
            if after < event:
                return after
            return (_localize(begin, tz) - QUIET_MARGIN).astimezone(timezone.utc)
    return due


def plan_reminders(session: Session, booking: Booking, now: datetime) -> None:
    """(Re-)plan a booking's reminders in the caller's transaction (see `plan_many`)."""
    plan_many(session, [booking], now)


def plan_many(session: Session, bookings: list[Booking], now: datetime) -> int:
    """(Re-)plan the reminders of bookings of one or more tenants; returns rows written.

    Planned ones follow changed times; one already sent is armed again only when its event
    moved. A cancelled booking's unsent reminders are dropped. New rows go in as one
    multi-row INSERT (a bulk import plans thousands at once).
    """
    ids = [b.id for b in bookings]
    cancelled = [b.id for b in bookings if b.status == "cancelled"]
    if cancelled:
        session.execute(delete(Reminder).where(
            Reminder.booking_id.in_(cancelled), Reminder.state.in_(("planned", "skipped"))))
    existing: dict[tuple[int, str], Reminder] = {
        (r.booking_id, r.kind): r for r in session.scalars(
            select(Reminder).where(Reminder.booking_id.in_(ids)))}
    tenants: dict[int, tuple[Tenant, ZoneInfo, dict[str, float | None]]] = {}
    new: list[dict[str, object]] = []
    for booking in bookings:
        if booking.status == "cancelled":
            continue
        if booking.tenant_id not in tenants:
            tenant = session.get(Tenant, booking.tenant_id)
            assert tenant is not None
            tenants[booking.tenant_id] = (
                tenant, tenant.zone, offsets(tenant))
        tenant, tz, hours_by_kind = tenants[booking.tenant_id]
        for kind, hours in hours_by_kind.items():
            reminder = existing.get((booking.id, kind))
            if not hours:
                if reminder is not None and reminder.state == "planned":
                    reminder.state = "skipped"
                continue
            event = getattr(booking, KINDS[kind].event)
            due, state = when(kind, event, float(hours), tenant, tz, now)
            if reminder is None:
                new.append({"tenant_id": booking.tenant_id, "booking_id": booking.id,
                            "kind": kind, "due_at": due, "event_at": event, "state": state,
                            "created_at": now})
            elif reminder.state in ("planned", "skipped") or (
                    reminder.state == "sent" and reminder.event_at != event
                    and state == "planned"):
                reminder.due_at, reminder.event_at, reminder.state = due, event, state
                reminder.sent_at = None if state == "planned" else reminder.sent_at
    if new:
        session.execute(insert(Reminder), new)
    return len(new)


def when(kind: str, event: datetime, hours: float, tenant: Tenant, tz: ZoneInfo,
         now: datetime) -> tuple[datetime, str]:
    """A reminder's due time and state (planned, or skipped when its moment has passed)."""
    due = due_time(event, hours, tz)
    if not KINDS[kind].urgent:
        due = out_of_quiet(due, event, tenant, tz)
    if due > now:
        return due, "planned"
    if kind in SEND_WHILE_AHEAD and event > now:
        return now, "planned"
    return due, "skipped"


def plan_bill_reminders(session: Session, tenant: Tenant, booking_id: int,
                        due: datetime, now: datetime) -> None:
    """Plan the first, second and final payment reminder of a QR-bill due on `due`.

    A new bill re-plans them; each goes at 09:00 local time on its day.
    """
    tz = tenant.zone
    days = list(tenant.setting("qr_reminder_days") or BILL_DAYS)
    existing = {r.kind: r for r in session.scalars(select(Reminder).where(
        Reminder.booking_id == booking_id, Reminder.kind.in_(BILL_KINDS)))}
    for kind, after in zip(BILL_KINDS, days, strict=False):  # fewer days: fewer reminders
        local_day = due.astimezone(tz).date() + timedelta(days=int(after))
        at = _localize(datetime.combine(local_day, BILL_HOUR), tz).astimezone(timezone.utc)
        reminder = existing.get(kind)
        if reminder is None:
            session.add(Reminder(tenant_id=tenant.id, booking_id=booking_id, kind=kind,
                                 due_at=at, event_at=due, state="planned", created_at=now))
        else:
            reminder.due_at, reminder.event_at, reminder.state = at, due, "planned"
            reminder.sent_at = None
