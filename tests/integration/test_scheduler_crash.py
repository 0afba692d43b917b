"""Two schedulers, killed at random points across a simulated day: every reminder goes to the
outbox exactly once (no duplicates, none lost between the claim and the outbox row)."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from bot import crypto
from bot.bookings import upsert_booking
from bot.db import Database
from bot.models import Booking, OutboxItem, Reminder, Tenant
from bot.scheduler import ReminderScheduler
from tests.conftest import TEST_KEY

START = datetime(2027, 3, 8, 23, 0, tzinfo=timezone.utc)
STEP = timedelta(minutes=15)
STEPS = 4 * 26  # a simulated day, and two hours more


class SharedClock:
    """The simulated time, set by the test, read by every scheduler process."""

    def __init__(self, value) -> None:  # type: ignore[no-untyped-def]
        self.value = value

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.value.value, timezone.utc)


def scheduler_process(url: str, clock_value) -> None:  # type: ignore[no-untyped-def]
    """A scheduler that ticks as fast as it can until it is killed."""
    crypto.configure(TEST_KEY)
    scheduler = ReminderScheduler(Database(url), SharedClock(clock_value))
    while True:
        scheduler.fire_due(scheduler.clock.now(), limit=50)


def make_bookings(db: Database, n: int) -> None:
    """n renters with pickups and returns spread over the simulated day."""
    rng = random.Random(7)
    with db.session() as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == "alpenrent"))
        for i in range(n):
            pickup = START + timedelta(hours=3, minutes=rng.randrange(0, 47 * 60, 5))
            upsert_booking(s, tenant, {
                "ref": f"CR-{80000 + i}", "renter": {
                    "name": f"Renter {i}", "phone": f"+4179{5000000 + i}",
                    "birth_date": "1990-01-01", "language": rng.choice(["de", "fr", "it", "en"])},
                "vehicle": {"plate": f"ZH {100000 + i}", "category": "B"},
                "pickup_at": pickup.isoformat(),
                "return_at": (pickup + timedelta(hours=rng.randrange(3, 20))).isoformat(),
                "amount_due_chf": "100", "deposit_chf": "500"}, START)


def test_killed_schedulers_send_every_reminder_exactly_once(runtime, demo):
    db = runtime.db
    make_bookings(db, 100)
    ours = select(Reminder).join(Booking, Booking.id == Reminder.booking_id).where(
        Booking.ref.like("CR-8%"))
    with db.session() as s:  # reminders whose moment had passed when booked are not ours to send
        planned = {r.id for r in s.scalars(ours) if r.state == "planned"}
    context = multiprocessing.get_context("fork")
    clock_value = context.Value("d", START.timestamp(), lock=False)  # a killed reader holds no lock
    clean = ReminderScheduler(db, SharedClock(clock_value))
    rng = random.Random(11)
    procs: list = [None, None]
    kills = 0
    try:
        for _ in range(STEPS):
            clock_value.value += STEP.total_seconds()
            for i, proc in enumerate(procs):
                if proc is None or not proc.is_alive():
                    procs[i] = context.Process(target=scheduler_process,
                                               args=(str(db.engine.url.render_as_string(
                                                   hide_password=False)), clock_value),
                                               daemon=True)
                    procs[i].start()
            time.sleep(rng.uniform(0.02, 0.15))
            for proc in procs:
                if rng.random() < 0.5:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.join()
                    kills += 1
            clean.fire_due(clean.clock.now())  # whatever a killed one left: still on time
    finally:
        for proc in procs:
            if proc is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
                proc.join()
    clean.fire_due(clean.clock.now())
    end = clean.clock.now()
    with db.session() as s:
        due = [r for r in s.scalars(ours) if r.due_at <= end and r.id in planned]
        outbox = Counter(r.payload.get("reminder_id") for r in s.scalars(select(OutboxItem))
                         if r.payload.get("reminder_id"))
    assert kills > 20
    assert len(due) > 100
    assert [r.id for r in due if r.state != "sent"] == []  # none missed, none late
    assert {r.id for r in due} == set(outbox) & planned  # none lost between claim and outbox
    assert max(outbox.values()) == 1  # none twice
