"""Webhook benchmark: `crms-bot serve` driven with signed Twilio webhooks from many renters.

Measures messages fully processed per second (webhook sent -> reply posted to the local
Twilio API) and latency p50/p99 at 1, 8 and 32 concurrent renters, embedded (SQLite, threads)
and scaled out (PostgreSQL + Redis + RQ workers) when CRMS_BENCH_POSTGRES_URL and
CRMS_BENCH_REDIS_URL are set. Prints a table, with the CPU milliseconds each part spent per
message: the web process (`serve` and Granian's worker), the workers (embedded: they are
threads of the web process, so 0; scaled out: the RQ workers and the scheduler), the
PostgreSQL and Redis servers, and this load generator with its local Twilio. On a 2-core
machine their sum, not waiting, bounds the rate.

Each renter keeps its connection to the service alive, as the local Twilio keeps its own.

    python -m bench.webhook [--messages 100] [--workers 2]
"""

from __future__ import annotations

import argparse
import http.client
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from cryptography.fernet import Fernet
from twilio.request_validator import RequestValidator

from tests import fake_twilio
from tests.envs import free_port
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN

BIN = Path(sys.executable).parent / "crms-bot"
TEXTS = ["Grüezi", "hilfe", "wie hoch ist die Kaution?", "danke", "Wann habt ihr offen?"]



def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def descendants(roots: list[int]) -> set[int]:
    """The processes started under `roots` (serve's worker and scheduler), roots included."""
    found, parents = set(roots), {}
    for pid in _all_pids():
        try:
            parents[pid] = int(_stat(pid)[1])
        except (OSError, IndexError):
            continue
    grew = True
    while grew:
        new = {pid for pid, ppid in parents.items() if ppid in found and pid not in found}
        found |= new
        grew = bool(new)
    return found


def named(names: tuple[str, ...]) -> set[int]:
    """Processes by command name (the PostgreSQL and Redis servers the service talks to)."""
    pids = set()
    for pid in _all_pids():
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() in names:
                pids.add(pid)
        except OSError:
            continue
    return pids


def cpu_seconds(pids: set[int]) -> float:
    """User plus system CPU time of these processes so far."""
    total = 0
    for pid in pids:
        try:
            fields = _stat(pid)
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def split_roles(pids: set[int]) -> tuple[set[int], set[int]]:
    """The web processes (`serve` and Granian's worker, which answers HTTP) and the rest
    (the RQ workers and the scheduler that run beside it with Redis)."""
    web, background = set(), set()
    for pid in pids:
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        (background if b"worker" in args or b"scheduler" in args else web).add(pid)
    return web, background


def web_rss_mb(serve_pid: int) -> float:
    """The resident memory of the process that answers HTTP: Granian's worker under `serve`."""
    web, _ = split_roles(descendants([serve_pid]))
    sizes = [0.0]
    for pid in web:
        try:
            sizes.append(rss_mb(pid))
        except OSError:  # gone meanwhile
            continue
    return max(sizes)


def own_cpu_seconds() -> float:
    """This process's CPU so far: the renters sending webhooks and the local Twilio."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Service:
    """A running `crms-bot serve` (and extra workers) against a local Twilio."""

    def __init__(self, env_extra: dict[str, str], workers: int) -> None:
        self.twilio = fake_twilio.start()
        self.tmp = tempfile.TemporaryDirectory()
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CRMS_", "TWILIO_"))}
        env.update(CRMS_VAR_DIR=self.tmp.name, CRMS_DATA_KEY=Fernet.generate_key().decode(),
                   CRMS_DATABASE_URL=f"sqlite:///{self.tmp.name}/bench.sqlite3",
                   TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                   CRMS_TWILIO_API_BASE=self.twilio.url,
                   CRMS_PUBLIC_URL=f"http://127.0.0.1:{self.port}")
        env.update(env_extra)
        if "CRMS_REDIS_URL" in env_extra:  # start from empty stores: message ids repeat per run
            import redis
            from sqlalchemy import create_engine, text

            url = env_extra["CRMS_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://")
            with create_engine(url).begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            redis.Redis.from_url(env_extra["CRMS_REDIS_URL"]).flushdb()
        for args in (["db", "upgrade"], ["demo-data"]):
            subprocess.run([str(BIN), *args], env=env, check=True, capture_output=True)
        self.procs = [subprocess.Popen([str(BIN), "serve", "--port", str(self.port)], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        if "CRMS_REDIS_URL" in env_extra:
            self.procs += [subprocess.Popen([str(BIN), "worker"], env=env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                           for _ in range(max(0, workers - 1))]
        self.base = f"http://127.0.0.1:{self.port}"
        self._local = threading.local()
        for _ in range(200):
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)

    def warm_up(self) -> None:
        """Wait until the NLU is loaded and one message went through, so runs measure work."""
        import json

        for _ in range(600):
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=5) as response:
                    if json.loads(response.read()).get("checks", {}).get("nlu", "ok") == "ok":
                        break
            except OSError:  # 503 while a dependency is still starting
                pass
            time.sleep(0.1)
        latencies: list[float] = []
        renter(self, "+41790000000", 2, latencies, [])
        # Extra workers load the NLU in the background as they start: wait until every
        # process is idle, so the first row measures messages, not start-up.
        ours = descendants([p.pid for p in self.procs])
        for _ in range(120):
            before = cpu_seconds(ours)
            time.sleep(0.5)
            if cpu_seconds(ours) - before < 0.05:
                break

    def post(self, params: dict[str, str]) -> None:
        """One signed webhook, on this thread's kept-alive connection (as Twilio keeps them)."""
        url = self.base + "/webhooks/twilio"
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
        body = urllib.parse.urlencode(params).encode()
        headers = {"X-Twilio-Signature": signature,
                   "Content-Type": "application/x-www-form-urlencoded"}
        for attempt in range(2):  # the server may close an idle connection: reconnect once
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                                     timeout=10)
            try:
                conn.request("POST", "/webhooks/twilio", body, headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
                continue
            if response.status != 200:
                raise RuntimeError(f"webhook answered {response.status}")
            return

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=10)
        self.twilio.close()
        self.twilio.cdn.close()  # type: ignore[union-attr]
        self.tmp.cleanup()


def renter(service: Service, number: str, messages: int, latencies: list[float],
           errors: list[str]) -> None:
    for i in range(messages):
        params = {"MessageSid": f"SM{number[-8:]}{i:024d}", "AccountSid": ACCOUNT_SID,
                  "From": f"whatsapp:{number}", "To": "whatsapp:+41445550102",
                  "Body": TEXTS[i % len(TEXTS)], "NumMedia": "0"}
        started = time.perf_counter()
        service.post(params)
        if service.twilio.wait_for_reply(f"whatsapp:{number}", i + 1, timeout=30):
            latencies.append((time.perf_counter() - started) * 1000)
        else:
            errors.append(number)
            return


def run(service: Service, concurrency: int, messages: int, offset: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors: list[str] = []
    threads = [threading.Thread(target=renter, args=(
        service, f"+4179{offset + i:07d}", messages, latencies, errors)) for i in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / (time.perf_counter() - started), sorted(latencies), len(errors)


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100, help="messages per renter")
    parser.add_argument("--workers", type=int, default=2, help="RQ workers in scaled-out mode")
    args = parser.parse_args()
    modes = [("embedded (SQLite)", {})]
    if os.environ.get("CRMS_BENCH_POSTGRES_URL") and os.environ.get("CRMS_BENCH_REDIS_URL"):
        modes.append((f"PostgreSQL+Redis, {args.workers} RQ workers", {
            "CRMS_DATABASE_URL": os.environ["CRMS_BENCH_POSTGRES_URL"],
            "CRMS_REDIS_URL": os.environ["CRMS_BENCH_REDIS_URL"]}))
    print(f"| {'mode':34} | {'renters':>7} | {'msgs':>5} | {'msg/s':>7} | {'p50 ms':>7} | "
          f"{'p99 ms':>7} | {'lost':>4} | {'web RSS MB':>10} | {'web CPU':>7} | "
          f"{'workers CPU':>11} | {'PG+Redis CPU':>12} | {'load gen CPU':>12} |")
    print("|" + "|".join("-" * (width + 2) for width in (34, 7, 5, 7, 7, 7, 4, 10, 7, 11, 12, 12))
          + "|")
    for name, env in modes:
        service = Service(env, args.workers)
        try:
            service.warm_up()
            web, background = split_roles(descendants([p.pid for p in service.procs]))
            servers = named(("postgres", "redis-server")) if "CRMS_REDIS_URL" in env else set()
            groups = (web, background, servers)
            for i, concurrency in enumerate((1, 8, 32)):
                before = [cpu_seconds(group) for group in groups] + [own_cpu_seconds()]
                rate, lat, lost = run(service, concurrency, args.messages, offset=i * 1000)
                after = [cpu_seconds(group) for group in groups] + [own_cpu_seconds()]
                per_message = 1000 / max(1, len(lat))  # CPU ms per message
                web_ms, workers_ms, servers_ms, ours_ms = (
                    (a - b) * per_message for a, b in zip(after, before, strict=True))
                print(f"| {name:34} | {concurrency:7} | {len(lat):5} | {rate:7.1f} | "
                      f"{pct(lat, 0.5):7.1f} | {pct(lat, 0.99):7.1f} | {lost:4} | "
                      f"{web_rss_mb(service.procs[0].pid):10.0f} | {web_ms:7.2f} | "
                      f"{workers_ms:11.2f} | {servers_ms:12.2f} | {ours_ms:12.2f} |", flush=True)
        finally:
            service.close()


if __name__ == "__main__":
    main()
