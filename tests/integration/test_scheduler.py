"""Reminders fire once, on the renter's channel and language, and follow booking changes."""

from datetime import timedelta

from sqlalchemy import select

from bot.bookings import upsert_booking
from bot.models import OutboxItem, Reminder, Tenant


def test_pickup_reminder_fires_once_in_the_renters_language(chat, runtime, clock, channels):
    chat("whatsapp", "+41791234502").say("ciao")  # Marco, pickup 11.03.2027 09:00 CET
    clock.set(clock.now().replace(day=10, hour=8, minute=0))  # 24 h before
    assert runtime.scheduler.run_once() >= 2  # Marco, Luca of the other tenant, and others
    assert runtime.scheduler.run_once() == 0
    runtime.relay.run_once()
    runtime.relay.run_once()
    # Marco last wrote 47 hours ago and the tenant has no WhatsApp template: it goes by SMS
    reminder = [m for m in channels["sms"].sent if m.address == "+41791234502"]
    assert len(reminder) == 1 and channels["whatsapp"].sent[1:] == []
    assert reminder[0].text.startswith(
        "Promemoria: ritira Škoda Octavia giovedì 11 marzo 2027, 09:00, a Zürich HB")


def test_reminder_inside_the_whatsapp_window_is_free_text(chat, runtime, clock, channels):
    renter = chat("whatsapp", "+41791234502")
    clock.set(clock.now().replace(day=10, hour=7, minute=0))
    renter.say("ciao")  # an hour before the reminder
    clock.advance(hours=1)
    runtime.scheduler.run_once()
    runtime.relay.run_once()
    texts = [m.text for m in channels["whatsapp"].sent if m.address == "+41791234502"]
    assert texts[-1].startswith("Promemoria: ritira Škoda Octavia giovedì 11 marzo")
    assert channels["whatsapp"].sent[-1].template is None


def test_reminder_outside_the_window_uses_the_tenants_template(chat, runtime, clock, channels):
    with runtime.db.session() as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == "alpenrent"))
        tenant.settings = {**tenant.settings, "whatsapp_templates": {"it": {
            "reminder.pickup_24h": {"content_sid": "HX0123456789abcdef0123456789abcdef",
                                    "variables": ["vehicle", "when", "location"]}}}}
    chat("whatsapp", "+41791234502").say("ciao")
    clock.set(clock.now().replace(day=10, hour=8, minute=0))
    runtime.scheduler.run_once()
    runtime.relay.run_once()
    sent = [m for m in channels["whatsapp"].sent if m.template]
    assert len(sent) == 1
    sid, variables = sent[0].template
    assert sid == "HX0123456789abcdef0123456789abcdef"
    assert variables == {"1": "Škoda Octavia", "2": "giovedì 11 marzo 2027, 09:00",
                         "3": "Zürich HB, Europaallee 1"}


def test_renter_who_said_stop_gets_no_reminder(chat, runtime, clock):
    renter = chat("sms", "+41791234502")
    renter.say("ciao")
    renter.say("STOP")
    clock.set(clock.now().replace(day=10, hour=8, minute=0))
    runtime.scheduler.run_once()
    with runtime.db.session() as s:
        assert s.scalar(select(Reminder.state).where(Reminder.kind == "pickup_24h",
                                                     Reminder.booking_id == 2)) == "skipped"
        assert not [r for r in s.scalars(select(OutboxItem)) if r.address == "+41791234502"
                    and (r.payload or {}).get("reminder")]


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


def test_without_template_or_sms_number_staff_are_told(chat, runtime, clock, channels):
    with runtime.db.session() as s:
        s.scalar(select(Tenant).where(Tenant.slug == "alpenrent")).sms_number = None
    chat("whatsapp", "+41791234502").say("ciao")
    clock.set(clock.now().replace(day=10, hour=8, minute=0))
    runtime.scheduler.run_once()
    runtime.relay.run_once()
    runtime.relay.run_once()
    assert not [m for m in channels["whatsapp"].sent + channels["sms"].sent
                if m.address == "+41791234502" and "Promemoria" in m.text]
    flagged = [m.text for m in channels["staff"].sent if "nicht erreichbar" in m.text]
    assert len(flagged) == 1 and "Promemoria: ritira Škoda Octavia" in flagged[0]
