"""Reminder planning: local wall-clock offsets across DST, quiet hours, holidays, late bookings,
the kinds that depend on the licence and the payment, and replies understood in context."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from bot.bookings import cancel_booking, upsert_booking
from bot.models import Booking, LicenceCheck, OutboxItem, Reminder, Tenant

UTC = timezone.utc


def book(runtime, clock, pickup: str, ret: str, ref: str = "CR-70001",  # type: ignore[no-untyped-def]
         amount: str = "0", **settings) -> dict[str, Reminder]:
    """A booking for Anna's number (+41791234501 is taken: another renter), its reminders."""
    with runtime.db.session() as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == "alpenrent"))
        if settings:
            tenant.settings = {**(tenant.settings or {}), **settings}
        data = {"ref": ref, "renter": {"name": "Nina Keller", "phone": "+41791230077",
                                       "birth_date": "1991-04-04", "language": "de"},
                "vehicle": {"plate": "ZH 700001", "category": "B", "model": "VW Polo"},
                "pickup_at": pickup, "return_at": ret, "pickup_location": "Zürich HB",
                "return_location": "Zürich Flughafen", "amount_due_chf": amount,
                "deposit_chf": "500"}
        upsert_booking(s, tenant, data, clock.now())
    return reminders(runtime, ref)


def reminders(runtime, ref: str = "CR-70001") -> dict[str, Reminder]:  # type: ignore[no-untyped-def]
    with runtime.db.session() as s:
        rows = s.scalars(select(Reminder).join(Booking, Booking.id == Reminder.booking_id)
                         .where(Booking.ref == ref))
        return {r.kind: r for r in rows}


def utc(text_: str) -> datetime:
    return datetime.fromisoformat(text_).astimezone(UTC)


def test_a_pickup_tomorrow_at_nine_is_reminded_at_nine_today(runtime, demo, clock):
    clock.set(utc("2027-03-09T06:30:00+01:00"))
    planned = book(runtime, clock, "2027-03-10T09:00:00+01:00", "2027-03-12T17:00:00+01:00")
    assert planned["pickup_24h"].due_at == utc("2027-03-09T09:00:00+01:00")
    assert planned["pickup_2h"].due_at == utc("2027-03-10T07:00:00+01:00")  # urgent: not moved
    assert planned["return_24h"].due_at == utc("2027-03-11T17:00:00+01:00")


def test_if_the_24h_point_is_in_quiet_hours_it_goes_at_eight(runtime, demo, clock):
    planned = book(runtime, clock, "2027-03-10T07:00:00+01:00", "2027-03-12T17:00:00+01:00")
    assert planned["pickup_24h"].due_at == utc("2027-03-09T08:00:00+01:00")
    assert planned["pickup_2h"].due_at == utc("2027-03-10T05:00:00+01:00")  # urgent


def test_when_quiet_hours_end_after_the_event_it_goes_before_they_start(runtime, demo, clock):
    planned = book(runtime, clock, "2027-03-11T07:00:00+01:00", "2027-03-12T17:00:00+01:00",
                   reminder_hours={"pickup_24h": 10})  # 21:00 the evening before: quiet
    assert planned["pickup_24h"].due_at == utc("2027-03-10T20:59:00+01:00")


@pytest.mark.parametrize(("pickup", "due"), [
    ("2027-03-28T09:00:00+02:00", "2027-03-27T09:00:00+01:00"),  # spring: clocks go forward
    ("2027-10-31T09:00:00+01:00", "2027-10-30T09:00:00+02:00"),  # autumn: clocks go back
])
def test_daylight_saving_does_not_shift_a_reminder_by_an_hour(runtime, demo, clock, pickup, due):
    planned = book(runtime, clock, pickup, "2027-11-05T17:00:00+01:00")
    assert planned["pickup_24h"].due_at == utc(due)
    assert planned["pickup_24h"].due_at.astimezone(UTC).hour in (7, 8)  # 09:00 in Zurich


def test_public_holidays_of_the_canton_can_count_as_quiet(runtime, demo, clock):
    # pickup the Tuesday after Easter: the 24 h point is on Easter Monday
    plain = book(runtime, clock, "2027-03-30T10:00:00+02:00", "2027-04-02T17:00:00+02:00")
    assert plain["pickup_24h"].due_at == utc("2027-03-29T10:00:00+02:00")
    quiet = book(runtime, clock, "2027-03-30T10:00:00+02:00", "2027-04-02T17:00:00+02:00",
                 ref="CR-70002", holidays_quiet=True, canton="ZH")
    assert quiet["pickup_24h"].due_at == utc("2027-03-30T08:00:00+02:00")


def test_a_booking_made_late_skips_what_passed_but_the_2h_pickup_goes_now(runtime, demo, clock):
    pickup = clock.now() + timedelta(minutes=90)
    planned = book(runtime, clock, pickup.isoformat(), (pickup + timedelta(days=2)).isoformat())
    assert planned["pickup_24h"].state == "skipped"
    assert planned["pickup_2h"].state == "planned" and planned["pickup_2h"].due_at == clock.now()
    assert planned["return_24h"].state == "planned"
    runtime.scheduler.run_once()
    with runtime.db.session() as s:
        sent = [r.payload["text"] for r in s.scalars(select(OutboxItem))
                if r.address == "+41791230077"]
    assert len(sent) == 1 and sent[0].startswith("Bald geht's los: Abholung")


def test_moving_the_pickup_moves_the_reminder_even_after_it_was_sent(runtime, demo, clock):
    book(runtime, clock, "2027-03-10T09:00:00+01:00", "2027-03-12T17:00:00+01:00")
    clock.set(utc("2027-03-09T09:00:00+01:00"))
    runtime.scheduler.run_once()
    assert reminders(runtime)["pickup_24h"].state == "sent"
    moved = book(runtime, clock, "2027-03-11T10:00:00+01:00", "2027-03-13T17:00:00+01:00")
    assert moved["pickup_24h"].state == "planned"
    assert moved["pickup_24h"].due_at == utc("2027-03-10T10:00:00+01:00")
    clock.set(utc("2027-03-10T10:00:00+01:00"))
    runtime.scheduler.run_once()
    with runtime.db.session() as s:
        texts = [r.payload["text"] for r in s.scalars(select(OutboxItem).order_by(OutboxItem.id))
                 if r.address == "+41791230077" and r.payload.get("reminder") == "pickup_24h"]
    assert len(texts) == 2 and "Donnerstag, 11. März 2027, 10:00" in texts[1]


def test_cancelling_drops_the_reminders_that_are_not_sent(runtime, demo, clock):
    book(runtime, clock, "2027-03-10T09:00:00+01:00", "2027-03-12T17:00:00+01:00")
    with runtime.db.session() as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == "alpenrent"))
        cancel_booking(s, tenant, "CR-70001", clock.now())
    assert reminders(runtime) == {}


def test_licence_and_payment_reminders_only_when_still_needed(runtime, demo, clock):
    book(runtime, clock, "2027-03-13T09:00:00+01:00", "2027-03-15T17:00:00+01:00",
         amount="420.00")
    book(runtime, clock, "2027-03-13T09:00:00+01:00", "2027-03-15T17:00:00+01:00",
         ref="CR-70002", amount="0")
    with runtime.db.session() as s:  # the second booking's licence was accepted already
        booking = s.scalar(select(Booking).where(Booking.ref == "CR-70002"))
        s.add(LicenceCheck(tenant_id=booking.tenant_id, booking_id=booking.id, status="accepted"))
    clock.set(utc("2027-03-10T09:00:00+01:00"))  # 72 h before: what is open
    runtime.scheduler.run_once()
    clock.set(utc("2027-03-11T09:00:00+01:00"))  # 48 h before: the licence
    runtime.scheduler.run_once()
    with runtime.db.session() as s:
        texts = [r.payload["text"] for r in s.scalars(select(OutboxItem).order_by(OutboxItem.id))
                 if r.address == "+41791230077"]
    assert len(texts) == 2
    assert texts[0].startswith("Für die Buchung CR-70001 sind noch CHF 420.00 offen")
    assert texts[1].startswith("Ihre Abholung ist am Samstag, 13. März 2027, 09:00 (Buchung "
                               "CR-70001)")
    assert reminders(runtime, "CR-70002")["licence_missing"].state == "skipped"
    assert reminders(runtime, "CR-70002")["payment_open"].state == "skipped"


def test_a_return_reminder_names_the_place_and_the_late_fee(runtime, demo, clock):
    book(runtime, clock, "2027-03-09T09:00:00+01:00", "2027-03-12T17:00:00+01:00",
         late_return_fee_chf=45)
    clock.set(utc("2027-03-11T17:00:00+01:00"))
    runtime.scheduler.run_once()
    with runtime.db.session() as s:
        [text_] = [r.payload["text"] for r in s.scalars(select(OutboxItem))
                   if r.payload.get("reminder") == "return_24h" and r.address == "+41791230077"]
    assert "bei Zürich Flughafen" in text_ and "CHF 45.00 pro angefangene Stunde" in text_


def test_due_reminders_are_found_through_the_index(sqlite_template):
    """The tick's query reads the (state, due_at) index, not every booking's reminders."""
    from sqlalchemy import create_engine

    with create_engine(f"sqlite:///{sqlite_template}").connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(text(
            "EXPLAIN QUERY PLAN SELECT id FROM reminders WHERE state = 'planned' "
            "AND due_at <= '2027-03-10' ORDER BY due_at LIMIT 200")))
    assert "USING INDEX ix_reminders_due" in plan or "USING COVERING INDEX ix_reminders_due" in plan


def reminded_anna(chat, runtime, clock, at: str):  # type: ignore[no-untyped-def]
    """Anna (CR-48213: pickup 10.03.2027 09:00, return 14.03. 17:00) got the reminders due."""
    anna = chat("whatsapp", "+41791234501")
    anna.say("Hallo")
    clock.set(utc(at))
    runtime.scheduler.run_once()
    anna.new_replies()
    return anna


def test_running_late_after_a_pickup_reminder_tells_the_branch(chat, runtime, clock):
    anna = reminded_anna(chat, runtime, clock, "2027-03-09T09:00:00+01:00")
    clock.advance(hours=23, minutes=30)
    assert anna.say("Ich komme 30 Minuten später") == [
        "Danke für die Nachricht! Wir haben die Station informiert; Ihr Fahrzeug wartet auf Sie "
        "bei Zürich HB, Europaallee 1."]
    assert any("kommt später zur Abholung" in t and "30 Minuten" in t
               for t in anna.staff_texts())


def test_can_i_return_tomorrow_after_a_return_reminder_asks_staff_to_extend(chat, runtime, clock):
    anna = reminded_anna(chat, runtime, clock, "2027-03-14T15:00:00+01:00")
    reply = anna.say("kann ich morgen zurückgeben?")[0]
    assert "15.03.2027" in reply and "CR-48213" in reply
    assert any("verlängern" in t for t in anna.staff_texts())
    assert "Rückgabe" in anna.say("wo muss ich das Auto abgeben?")[0]  # plain return_info


def test_a_late_reply_by_sms_to_a_reminder_is_understood(runtime, demo, clock):
    from tests.transcript import Chat

    clock.set(utc("2027-03-10T09:00:00+01:00"))  # Marco's 24 h reminder goes by SMS
    runtime.scheduler.run_once()
    marco = Chat(runtime, "sms", "+41791234502", "alpenrent")
    replies = marco.say("sarò in ritardo di 20 minuti")
    assert replies[-1].startswith("Grazie dell'avviso! La stazione è informata")
