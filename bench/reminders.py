"""Reminders at scale: plan 100,000 bookings, then the scheduler's ticks and a simulated day.

`python -m bench.reminders [--bookings N]` on SQLite, and on PostgreSQL when
CRMS_BENCH_POSTGRES_URL is set. Prints a table:
- planning throughput (bookings planned a second, 6 reminder kinds each);
- one tick with 10, 1,000 and 10,000 reminders due, and with none due (median of 50);
- a simulated day ticked every 20 s (the embedded scheduler's interval): the delay from a
  reminder's due time to its outbox row.
Targets (issue 8): planning 100,000 under 60 s on PostgreSQL; a tick with 1,000 due under 1 s;
a tick with none due under 5 ms whatever the number of bookings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, insert, select, text, update

from bot import crypto
from bot.db import Database
from bot.models import Base, Booking, Customer, OutboxItem, Reminder, Tenant, Vehicle
from bot.reminders import plan_many
from bot.scheduler import ReminderScheduler

T0 = datetime(2027, 3, 1, 6, 0, tzinfo=timezone.utc)
SPREAD_DAYS = 60
CHUNK = 2000
TICK = timedelta(seconds=20)


class Clock:
    """The simulated time the scheduler reads."""

    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


def fresh(url: str) -> Database:
    db = Database(url)
    if db.is_postgres:
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    else:
        Base.metadata.drop_all(db.engine)
    db.upgrade()
    return db


def seed(db: Database, n: int) -> None:
    """One tenant, 2,000 renters, 200 cars and n bookings spread over 60 days."""
    with db.session() as s:
        tenant = Tenant(slug="bench", name="Bench Rent", default_language="de",
                        sms_number="+41445559999", settings={})
        s.add(tenant)
        s.flush()
        customers = [{"tenant_id": tenant.id, "name": f"Renter {i}",
                      "phone": f"+4179{6000000 + i}", "language": ("de", "fr", "it", "en")[i % 4],
                      "phone_hash": crypto.lookup_hash(f"+4179{6000000 + i}")}
                     for i in range(2000)]
        s.execute(insert(Customer), customers)
        s.execute(insert(Vehicle), [{"tenant_id": tenant.id, "plate": f"ZH {100000 + i}",
                                     "category": "B", "model": "VW Golf"} for i in range(200)])
        customer_ids = list(s.scalars(select(Customer.id).order_by(Customer.id)))
        vehicle_ids = list(s.scalars(select(Vehicle.id).order_by(Vehicle.id)))
        rows = []
        for i in range(n):
            pickup = T0 + timedelta(seconds=(i * 7919 * 61) % (SPREAD_DAYS * 86400))
            rows.append({"tenant_id": tenant.id, "ref": f"CR-{100000 + i}",
                         "customer_id": customer_ids[i % len(customer_ids)],
                         "vehicle_id": vehicle_ids[i % len(vehicle_ids)],
                         "pickup_at": pickup, "return_at": pickup + timedelta(days=3),
                         "pickup_location": "Zürich HB", "return_location": "Zürich HB",
                         "amount_due_chf": 100, "deposit_chf": 500, "status": "confirmed",
                         "created_at": T0, "updated_at": T0})
            if len(rows) == 10_000:
                s.execute(insert(Booking), rows)
                rows = []
        if rows:
            s.execute(insert(Booking), rows)


def plan(db: Database, now: datetime) -> tuple[float, int]:
    """Plan every booking's reminders in chunks; seconds taken and rows written."""
    started = time.perf_counter()
    written = 0
    with db.session() as s:
        ids = list(s.scalars(select(Booking.id).order_by(Booking.id)))
    for at in range(0, len(ids), CHUNK):
        with db.session() as s:
            bookings = list(s.scalars(select(Booking).where(Booking.id.in_(ids[at:at + CHUNK]))))
            written += plan_many(s, bookings, now)
    return time.perf_counter() - started, written


def burst(db: Database, clock: Clock, count: int) -> datetime:
    """`count` planned reminders all due a minute ago (many 09:00 pickups): all still sendable."""
    at = clock.at + timedelta(hours=1)
    with db.session() as s:
        ids = list(s.scalars(select(Reminder.id).where(
            Reminder.state == "planned", Reminder.event_at > at + timedelta(minutes=1))
            .order_by(Reminder.due_at).limit(count)))
        s.execute(update(Reminder).where(Reminder.id.in_(ids))
                  .values(due_at=at - timedelta(minutes=1)))
        s.execute(update(Reminder).where(  # the tick sees exactly these
            Reminder.state == "planned", Reminder.due_at <= at, Reminder.id.not_in(ids))
            .values(state="skipped"))
    return at


def tick_with(db: Database, clock: Clock, count: int) -> tuple[float, int]:
    clock.at = burst(db, clock, count)
    scheduler = ReminderScheduler(db, clock)
    started = time.perf_counter()
    fired = scheduler.fire_due(clock.at, limit=count)
    return (time.perf_counter() - started) * 1000, fired


def idle_ticks(db: Database, clock: Clock) -> tuple[float, float]:
    """Median ms of the reminder query and of a whole `run_once` when nothing is due."""
    scheduler = ReminderScheduler(db, clock)
    with db.session() as s:
        first = s.scalar(select(func.min(Reminder.due_at)).where(Reminder.state == "planned"))
    clock.at = first - timedelta(seconds=1)
    fire, whole = [], []
    for _ in range(50):
        started = time.perf_counter()
        scheduler.fire_due(clock.at)
        fire.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        scheduler.run_once()
        whole.append((time.perf_counter() - started) * 1000)
    return statistics.median(fire), statistics.median(whole)


def simulated_day(db: Database, clock: Clock) -> tuple[int, list[float], float]:
    """Tick every 20 s through a day late in the bookings; the delays (s) from due
    time to outbox row. Reminders due before that day are set aside first (not measured)."""
    scheduler = ReminderScheduler(db, clock)
    start = clock.at = T0 + timedelta(days=SPREAD_DAYS - 5)
    with db.session() as s:
        s.execute(update(Reminder).where(Reminder.state == "planned", Reminder.due_at <= start)
                  .values(state="skipped"))
        before = s.scalar(select(func.max(OutboxItem.id))) or 0
    wall = time.perf_counter()
    while clock.at < start + timedelta(days=1):
        clock.at += TICK
        scheduler.fire_due(clock.at)
    wall = time.perf_counter() - wall
    with db.session() as s:
        rows = s.execute(select(Reminder.due_at, OutboxItem.created_at).join(
            OutboxItem, OutboxItem.payload["reminder_id"].as_integer() == Reminder.id)
            .where(OutboxItem.id > before)).all()
    delays = [(created - due).total_seconds() for due, created in rows]
    return len(delays), delays, wall


def run(name: str, url: str, n: int) -> list[str]:
    db = fresh(url)
    seed(db, n)
    clock = Clock(T0 - timedelta(days=4))
    seconds, written = plan(db, clock.at)
    lines = [f"| {name} | planning {n:,} bookings ({written:,} reminders) | {seconds:.1f} s "
             f"| {n / seconds:,.0f} bookings/s |"]
    fire, whole = idle_ticks(db, clock)
    lines.append(f"| {name} | tick, none due (median of 50) | {fire:.2f} ms | whole run_once "
                 f"with housekeeping {whole:.2f} ms |")
    tick_with(db, clock, 10)  # warm-up: catalogs and formats loaded once per process
    for count in (10, 1000, 10_000):
        ms, fired = tick_with(db, clock, count)
        lines.append(f"| {name} | tick, {count:,} due | {ms:.0f} ms | {fired:,} sent "
                     f"({count / ms * 1000:,.0f}/s) |")
    sent, delays, wall = simulated_day(db, clock)
    ordered = sorted(delays) or [0.0]
    if ordered:
        lines.append(f"| {name} | simulated day, tick every 20 s ({sent:,} sent, {wall:.0f} s wall) "
                     f"| delay p50 {statistics.median(ordered):.0f} s, p99 "
                     f"{ordered[int(0.99 * (len(ordered) - 1))]:.0f} s, max {ordered[-1]:.0f} s | |")
    db.engine.dispose()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=100_000)
    args = parser.parse_args()
    crypto.configure(crypto.load_or_create_key(None, Path(tempfile.mkdtemp())))
    print("| database | measure | figure | |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for line in run("SQLite", f"sqlite:///{tmp}/reminders.sqlite3", args.bookings):
            print(line, flush=True)
    if os.environ.get("CRMS_BENCH_POSTGRES_URL"):
        for line in run("PostgreSQL", os.environ["CRMS_BENCH_POSTGRES_URL"], args.bookings):
            print(line, flush=True)


if __name__ == "__main__":
    main()
