"""Reminders fire once, on the renter's channel and language, and follow booking changes."""

from datetime import timedelta

from sqlalchemy import select

from bot.bookings import upsert_booking
from bot.models import OutboxItem, Reminder, Tenant


def test_pickup_reminder_fires_once_in_the_renters_language(chat, runtime, clock, channels):
    chat("whatsapp", "+41791234502").say("ciao")  # Marco, pickup 11.03.2027 09:00 CET
    clock.set(clock.now().replace(day=10, hour=8, minute=0))  # 24 h before
    assert runtime.scheduler.run_once() == 2  # Marco, and Luca of the other tenant
    assert runtime.scheduler.run_once() == 0
    runtime.relay.run_once()
    runtime.relay.run_once()
    reminder = [m for m in channels["whatsapp"].sent if "Promemoria" in m.text]
    assert len(reminder) == 1
    assert reminder[0].text.startswith("Promemoria: ritira Škoda Octavia domani, giovedì 11 marzo")
    assert reminder[0].address == "+41791234502"


def test_renter_who_said_stop_gets_no_reminder(chat, runtime, clock):
    renter = chat("sms", "+41791234502")
    renter.say("ciao")
    renter.say("STOP")
    clock.set(clock.now().replace(day=10, hour=8, minute=0))
    assert runtime.scheduler.run_once() == 1  # only Luca, of the other tenant
    with runtime.db.session() as s:
        assert s.scalar(select(Reminder.state).where(Reminder.kind == "pickup_24h",
                                                     Reminder.booking_id == 2)) == "skipped"


def test_renter_who_never_wrote_gets_it_by_sms(runtime, demo, clock):
    clock.set(clock.now().replace(day=10, hour=8, minute=0))
    runtime.scheduler.run_once()
    with runtime.db.session() as s:
        rows = list(s.scalars(select(OutboxItem)))
    assert {r.channel for r in rows} == {"sms"}
    assert any(r.address == "+41791234502" for r in rows)


def test_reminders_follow_a_moved_booking(runtime, demo, clock):
    with runtime.db.session() as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == "alpenrent"))
        data = {"ref": "CR-48214", "renter": {"name": "Marco Rossi", "phone": "+41791234502",
                                              "birth_date": "1985-07-01", "language": "it"},
                "vehicle": {"plate": "ZH 654321", "category": "B"},
                "pickup_at": "2027-03-15T09:00:00+01:00", "return_at": "2027-03-18T09:00:00+01:00",
                "amount_due_chf": "389", "deposit_chf": "800"}
        upsert_booking(s, tenant, data, clock.now())
    clock.set(clock.now().replace(day=10, hour=8, minute=0))  # the old due time
    runtime.scheduler.run_once()
    with runtime.db.session() as s:
        assert not any("Marco" in (r.payload or {}).get("text", "")
                       or r.address == "+41791234502" for r in s.scalars(select(OutboxItem)))
    clock.set(clock.now().replace(day=14, hour=8, minute=0))
    assert runtime.scheduler.run_once() >= 1


def test_a_reminder_long_overdue_is_skipped_not_sent(runtime, demo, clock):
    clock.set(clock.now().replace(day=10, hour=8) + timedelta(hours=3))
    runtime.scheduler.run_once()
    with runtime.db.session() as s:
        state = s.scalar(select(Reminder.state).where(Reminder.kind == "pickup_24h",
                                                      Reminder.booking_id == 1))
    assert state == "skipped"
