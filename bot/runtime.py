"""The wired service: database, ports, engine, relay, scheduler and how work is run."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot import crypto
from bot.channels.registry import build_channels, build_payments
from bot.config import Config
from bot.db import Database
from bot.engine import Engine
from bot.locks import RedisLocks
from bot.outbox import Claim, OutboxRelay
from bot.queues import CHAT_QUEUE, SLOW_QUEUE
from bot.scheduler import ReminderScheduler
from bot.services.ports import Services
from bot.tenant_cache import TenantCache

log = logging.getLogger(__name__)
SEND_RETRY_PAUSES = (0.0, 0.01, 0.05, 0.25)  # seconds


class EmbeddedWork:
    """Runs jobs on threads of this process (no Redis): same code paths as the RQ jobs."""

    DRAINERS = 2  # threads answering queued conversations; the others run jobs (OCR)
    BATCH = 32

    def __init__(self, runtime: "Runtime") -> None:
        self.runtime = runtime
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="crms-job")
        self.wake = threading.Event()
        self.stop = threading.Event()
        self._guard = threading.Lock()
        self._inbound: deque[int] = deque()  # conversations with new messages, oldest first
        self._drainers = 0

    def enqueue_conversation(self, conversation_id: int) -> None:
        """Handle a conversation's new messages soon, off the request thread.

        As the RQ workers do, the conversations waiting are answered in batches (one
        transaction each) by a thread or two, so a busy minute costs fewer commits.
        """
        with self._guard:
            self._inbound.append(conversation_id)
            if self._drainers >= self.DRAINERS:
                return  # a drainer will take it
            self._drainers += 1
        try:
            self.pool.submit(self._drain)
        except RuntimeError:  # the pool is shutting down: answer here rather than lose it
            self._drain()

    def _drain(self) -> None:
        while True:
            with self._guard:
                batch = [self._inbound.popleft()
                         for _ in range(min(self.BATCH, len(self._inbound)))]
                if not batch:
                    self._drainers -= 1
                    return
            self._safe(self.runtime.answer_batch, list(dict.fromkeys(batch)))

    def wake_outbox(self) -> None:
        """Tell the delivery loop there is something to send."""
        self.wake.set()

    def enqueue_job(self, name: str, *args: Any) -> None:
        """A job of bot/jobs.py on a worker thread (OCR), like RQ would run it."""
        import bot.jobs

        job = functools.partial(getattr(bot.jobs, name), rt=self.runtime)  # this runtime's
        try:
            self.pool.submit(self._safe, job, *args)
        except RuntimeError:  # the pool is shutting down: do it here rather than lose it
            self._safe(job, *args)

    @staticmethod
    def _safe(fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - a job must never kill the pool
            log.exception("embedded job failed")

    def start_loops(self) -> None:
        """Delivery worker and scheduler as daemon threads of `serve` (and the NLU loaded)."""
        self.runtime.warm_up_nlu()
        threading.Thread(target=self.delivery_loop, name="crms-outbox", daemon=True).start()
        threading.Thread(target=self.scheduler_loop, name="crms-scheduler", daemon=True).start()

    def delivery_loop(self, idle: float = 1.0) -> None:
        """Send due outbox rows until stopped; wakes at once when new rows are written."""
        self._safe(self._resume)
        while not self.stop.is_set():
            self._safe(self.runtime.relay.run_once)
            if not self.wake.wait(idle):  # idle: a good moment to refresh the gauges
                self._safe(self.runtime.relay.refresh_gauges)
            self.wake.clear()

    def _resume(self) -> None:
        for conv_id in self.runtime.engine.pending_conversations():
            self.enqueue_conversation(conv_id)  # messages received before a crash

    def scheduler_loop(self, every: float = 20.0) -> None:
        """Fire due reminders until stopped."""
        while not self.stop.is_set():
            self._safe(self._tick)
            self.stop.wait(every)

    def _tick(self) -> None:
        if self.runtime.scheduler.run_once():
            self.wake_outbox()


class QueuedWork:
    """Runs jobs on RQ workers through Redis (scaled-out mode).

    Inbound messages do not cost an RQ job each: the webhook appends the conversation to a
    Redis list and queues a `drain_inbound` job only when none is waiting. A worker that
    starts draining clears the flag, so the next message queues a job for another worker:
    under load every worker drains, at most one job waits, and RQ's own bookkeeping (several
    Redis round trips a job) is paid per batch instead of per message.

    Chat (drain and delivery jobs) and slow work (reading a licence photo takes seconds of
    OCR; QR-bill PDFs and payment links take a while too) have queues of their own. A worker
    takes chat first (`crms-bot worker`); workers given only the chat queue are never held
    up by a burst of photos.
    """

    INBOUND = "crms:inbound"  # conversation ids with new messages, oldest first
    WAITING = "crms:inbound:waiting"  # a drain job is in the queue, not started yet
    WAITING_TTL = 60  # seconds: a lost job (Redis restarted) stops blocking new ones

    def __init__(self, runtime: "Runtime") -> None:
        from rq import Queue

        self.runtime = runtime
        self.redis = runtime.redis
        self.queue = Queue(CHAT_QUEUE, connection=runtime.redis)
        self.slow = Queue(SLOW_QUEUE, connection=runtime.redis)

    def enqueue_conversation(self, conversation_id: int) -> None:
        """Have a worker answer the conversation: one round trip, a job only when needed.

        With Redis unavailable the message stays recorded, unanswered: the scheduler queues
        it again once Redis is back (`recover_inbound`). The webhook still answers 200.
        """
        with _unless_redis_is_away(f"conversation {conversation_id} is answered once it is back"):
            pipe = self.redis.pipeline(transaction=False)
            pipe.rpush(self.INBOUND, conversation_id)
            pipe.set(self.WAITING, 1, nx=True, ex=self.WAITING_TTL)
            if pipe.execute()[1]:
                self._enqueue_drain()

    def recover_inbound(self, now: datetime, after: timedelta = timedelta(minutes=2)) -> int:
        """Queue again the conversations whose messages no worker answered (one died)."""
        stale = self.runtime.engine.pending_conversations(received_before=now - after)
        for conversation_id in stale:
            self.enqueue_conversation(conversation_id)
        return len(stale)

    def queue_drain(self) -> None:
        """A drain job for what is in the list, unless one is waiting already."""
        if self.redis.set(self.WAITING, 1, nx=True, ex=self.WAITING_TTL):
            self._enqueue_drain()

    def _enqueue_drain(self) -> None:
        self.queue.enqueue("bot.jobs.drain_inbound", result_ttl=0, failure_ttl=86400)

    def take_inbound(self, count: int) -> list[int]:
        """Up to `count` conversations to answer (each id goes to one worker)."""
        ids = self.redis.lpop(self.INBOUND, count) or []
        return list(dict.fromkeys(int(i) for i in ids))  # once each, in order

    def draining(self) -> None:
        """A drain job started: messages from now on queue a job for another worker."""
        self.redis.delete(self.WAITING)

    def wake_outbox(self) -> None:
        """Queue a delivery run (the scheduler queues one every tick anyway)."""
        with _unless_redis_is_away("replies go out once it is back"):
            self.queue.enqueue("bot.jobs.relay_outbox", result_ttl=0)

    def enqueue_job(self, name: str, *args: Any) -> None:
        """A job of bot/jobs.py for an RQ worker, on the slow queue (OCR)."""
        self.slow.enqueue(f"bot.jobs.{name}", *args, result_ttl=0, failure_ttl=86400,
                          job_timeout=120)


@contextmanager
def _unless_redis_is_away(meanwhile: str) -> Iterator[None]:
    """Log a Redis outage instead of failing the caller: what was recorded is recovered."""
    from redis.exceptions import RedisError

    try:
        yield
    except RedisError as exc:
        log.error("Redis unavailable (%s): %s", type(exc).__name__, meanwhile)


@dataclass
class Runtime:
    """Everything a request, a job or a command needs."""

    config: Config
    db: Database
    services: Services
    redis: Any = None
    engine: Engine = field(init=False)
    relay: OutboxRelay = field(init=False)
    scheduler: ReminderScheduler = field(init=False)
    work: Any = field(init=False)

    def answer(self, conversation_id: int) -> int:
        """Handle a conversation's unprocessed messages, then send its replies (one job).

        The delivery loop (or the next relay job) still picks up whatever this leaves, such
        as a retry; replies do not wait for it.
        """
        claims: list[Claim] = []

        def claim_replies(s: Session) -> list[Claim]:
            return self.relay.claim_due(s, self.services.clock.now(),
                                        conversation_id=conversation_id)

        handled = self.engine.process_conversation(conversation_id, notify=False,
                                                   claim=claim_replies, claimed=claims)
        self._send_replies(claims, {conversation_id} if handled else set())
        return handled

    def answer_batch(self, conversation_ids: list[int]) -> int:
        """`answer` for several conversations at once (a drain job's batch).

        Their turns run in one transaction and their replies go out together; those the
        batch left are answered one by one.
        """
        if len(conversation_ids) == 1:  # the one-conversation path costs less
            return self.answer(conversation_ids[0])

        def claim_replies(s: Session, ids: list[int]) -> list[Claim]:
            return self.relay.claim_due(s, self.services.clock.now(), conversation_ids=ids)

        batch = self.engine.process_batch(conversation_ids, claim=claim_replies)
        self._send_replies(batch.claims, batch.answered)
        handled = batch.handled
        for conversation_id in batch.left:
            try:
                handled += self.answer(conversation_id)
            except Exception:  # noqa: BLE001 - the next conversation is not held up
                # its messages stay unprocessed: the scheduler queues it again (recover_inbound)
                log.exception("conversation %s failed", conversation_id)
        return handled

    def _send_replies(self, claims: list[Claim], answered: set[int]) -> None:
        """Send what the turns claimed.

        An answered conversation with nothing claimed (the renter busy, or an apology
        written after a failed turn) is sent once the renter's previous reply is out.
        """
        if claims:
            self.relay.deliver(claims)
        for conversation_id in answered - {claim.conversation_id for claim in claims}:
            self._send_when_free(conversation_id)

    def _send_when_free(self, conversation_id: int) -> None:
        """Send the conversation's due replies once its earlier message is out.

        A renter's messages go out in order, so a reply is not claimed while another of
        theirs is being sent (the previous answer, finishing on another thread or worker).
        That takes milliseconds: try again briefly rather than leave the reply for the next
        delivery round, seconds away.
        """
        for pause in SEND_RETRY_PAUSES:
            time.sleep(pause)
            if self.relay.run_once(conversation_id=conversation_id) \
                    or not self.relay.has_unsent(conversation_id, self.services.clock.now()):
                return

    def warm_up_nlu(self) -> None:
        """Load the NLU in the background when it loads lazily, so the first renter does not wait."""
        warm_up = getattr(self.services.nlu, "warm_up", None)
        if warm_up is not None:
            warm_up()

    def __post_init__(self) -> None:
        tenants = TenantCache()  # one copy of each tenant for turns and sends
        self.engine = Engine(self.db, self.services, after_commit=lambda: self.work.wake_outbox(),
                             run_job=lambda name, *args: self.work.enqueue_job(name, *args),
                             tenants=tenants)
        self.relay = OutboxRelay(self.db, self.services.channels, self.services.breakers,
                                 self.services.clock, tenants=tenants)
        self.scheduler = ReminderScheduler(self.db, self.services.clock)
        self.work = QueuedWork(self) if self.redis is not None else EmbeddedWork(self)


def build_runtime(config: Config | None = None, services: Services | None = None) -> Runtime:
    """Wire the service from its configuration; tests pass their own services."""
    config = config or Config.from_env()
    crypto.configure(crypto.load_or_create_key(config.data_key, config.var_dir))
    redis_client = None
    if config.redis_url:
        import redis

        # A Redis that hangs must not hold a webhook: commands give up after 5 s (RQ workers
        # raise it for their blocking dequeue).
        redis_client = redis.Redis.from_url(config.redis_url, socket_timeout=5,
                                            socket_connect_timeout=2)
    if services is None:
        from nlu.backend import make_parser

        services = Services(payments=build_payments(config), nlu=make_parser(config))
    db = Database(config.database_url)
    if not services.channels:
        services.channels = build_channels(config, telegram_tokens=TenantTokens(db))
    services.public_url = config.public_url
    if redis_client is not None and services.locks.__class__.__name__ == "InProcessLocks":
        services.locks = RedisLocks(redis_client)
    return Runtime(config=config, db=db, services=services, redis=redis_client)


class TenantTokens:
    """Each tenant's Telegram bot token, read from the database and kept for a minute."""

    def __init__(self, db: Database, ttl: float = 60.0) -> None:
        self.db = db
        self.ttl = ttl
        self._cache: dict[int, tuple[float, str | None]] = {}

    def __call__(self, tenant_id: int) -> str | None:
        """The token, or None when the tenant has no bot (sandbox)."""
        import time

        from bot.models import Tenant

        cached = self._cache.get(tenant_id)
        if cached is None or time.monotonic() - cached[0] > self.ttl:
            with self.db.session() as s:
                tenant = s.get(Tenant, tenant_id)
                cached = (time.monotonic(), tenant.telegram_bot_token if tenant else None)
            self._cache[tenant_id] = cached
        return cached[1]
