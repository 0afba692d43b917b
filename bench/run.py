"""Benchmarks: NLU parse time, engine handling latency, outbox delivery rate (make bench).

Each prints a table; the figures go into the notes, not into timed tests.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bench.data import renter_messages
from bot.config import Config
from bot.demo import load_demo_data
from bot.messages import InboundMessage
from bot.runtime import build_runtime
from bot.services.ports import Services
from nlu import BuiltinParser, RuleBasedParser


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def row(name: str, values_ms: list[float], extra: str = "") -> str:
    return (f"| {name:38} | {len(values_ms):6} | {statistics.median(values_ms):8.2f} | "
            f"{percentile(values_ms, 0.95):8.2f} | {max(values_ms):8.2f} | {extra:18} |")


def bench_nlu(messages: list[str]) -> list[str]:
    rows = []
    for name, parser in (("nlu parse, built-in classifier", BuiltinParser.load()),
                         ("nlu parse, keyword rules", RuleBasedParser())):
        times = []
        for text in messages:
            started = time.perf_counter()
            parser.parse(text)
            times.append((time.perf_counter() - started) * 1000)
        rows.append(row(name, times))
    return rows


def bench_engine(messages: list[str], tmp: Path) -> list[str]:
    config = Config(database_url=f"sqlite:///{tmp}/bench.sqlite3", var_dir=tmp)
    runtime = build_runtime(config, Services())
    runtime.db.upgrade()
    with runtime.db.session() as s:
        demo = load_demo_data(s, runtime.services.clock.now())
    phones = [b["renter_phone"] for b in demo["bookings"] if b["tenant"] == "alpenrent"]
    times = []
    for i, text in enumerate(messages):
        inbound = InboundMessage("whatsapp", phones[i % len(phones)], text,
                                 f"bench-{uuid.uuid4().hex}", tenant_slug="alpenrent")
        started = time.perf_counter()
        runtime.engine.handle(inbound)
        times.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    sent = 0
    while (n := runtime.relay.run_once(limit=500)):
        sent += n
    elapsed = time.perf_counter() - started
    rate = f"{sent / elapsed:,.0f} rows/s" if elapsed else "-"
    return [row("engine handle, SQLite (record+reply)", times),
            row("outbox relay, sandbox channel", [elapsed * 1000 / max(1, sent)] * max(1, sent),
                rate)]


def main() -> None:
    messages = renter_messages(400)
    header = (f"| {'benchmark':38} | {'n':>6} | {'p50 ms':>8} | {'p95 ms':>8} | {'max ms':>8} | "
              f"{'throughput':18} |")
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for line in bench_nlu(messages):
        print(line)
    with tempfile.TemporaryDirectory() as tmp:
        for line in bench_engine(messages, Path(tmp)):
            print(line)


if __name__ == "__main__":
    main()
