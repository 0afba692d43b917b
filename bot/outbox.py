"""Outbox delivery: claim, send, retry with backoff and jitter, dead-letter; each row once."""

from __future__ import annotations

import logging
import os
import random
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property, partial
from typing import Any

from sqlalchemy import Table, bindparam, case, exists, func, select, update
from sqlalchemy.orm import Session

from bot import metrics
from bot.breaker import Breakers
from bot.channels.base import (
    PROVIDER_OF,
    ChannelAdapter,
    PermanentSendError,
    TransientSendError,
)
from bot.db import Database, among
from bot.delivery_status import RANK, advance
from bot.documents import read_token
from bot.messages import Button, OutboundMessage
from bot.models import Conversation, Customer, Document, Message, OutboxItem, Tenant
from bot.models.outbox import DEAD, PENDING, SENDING, SENT
from bot.services.ports import Clock
from bot.sms import gsm_friendly, segments
from bot.tenant_cache import TenantCache
from bot.whatsapp import OUTSIDE_WINDOW_ERROR, inside_window, template_for

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
BASE_DELAY = 2.0
MAX_DELAY = 900.0
LEASE = timedelta(minutes=5)
UNSUBSCRIBED = "21610"


MESSAGES: Table = Message.__table__  # type: ignore[assignment]
OUTBOX: Table = OutboxItem.__table__  # type: ignore[assignment]
# Core INSERTs: the hot path writes these for every reply; the ORM's unit of work costs more
# than the rows themselves.
INSERT_MESSAGE = MESSAGES.insert().returning(MESSAGES.c.id)
INSERT_OUTBOX = OUTBOX.insert().returning(OUTBOX.c.id)
INSERT_MESSAGES = MESSAGES.insert().returning(MESSAGES.c.id, sort_by_parameter_order=True)


def enqueue(session: Session, *, tenant_id: int, conversation_id: int | None, channel: str,
            address: str, payload: dict[str, Any], now: datetime, language: str | None = None,
            transcript: bool = True, document_url: str | None = None) -> int:
    """Write one outbound message in the caller's transaction; returns the outbox row id.

    The transcript row is written when it is the renter's own thread, the outbox row always;
    a document goes as media, or as a link on SMS.
    """
    message, row = outbound_rows(
        tenant_id=tenant_id, conversation_id=conversation_id, channel=channel,
        address=address, payload=payload, now=now, language=language, transcript=transcript,
        document_url=document_url)
    conn = session.connection()  # Core on the session's transaction: no unit of work needed
    if message is not None:
        row["message_id"] = conn.execute(INSERT_MESSAGE, message).scalar_one()
    return conn.execute(INSERT_OUTBOX, row).scalar_one()  # type: ignore[no-any-return]


def outbound_rows(*, tenant_id: int, conversation_id: int | None, channel: str, address: str,
                  payload: dict[str, Any], now: datetime, language: str | None,
                  transcript: bool, document_url: str | None
                  ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The transcript message (or None) and the outbox row of one outbound message."""
    if document_url:
        if channel == "sms":
            payload = {**payload, "text": f"{payload.get('text', '')}\n{document_url}"}
        else:
            payload = {**payload, "media_urls": [document_url]}
    message = None
    if transcript and conversation_id is not None:
        message = {"tenant_id": tenant_id, "conversation_id": conversation_id,
                   "direction": "out", "channel": channel, "body": payload.get("text", ""),
                   "payload": payload, "status": "queued", "language": language,
                   "created_at": now}
    return message, {
        "tenant_id": tenant_id, "conversation_id": conversation_id, "message_id": None,
        "channel": channel, "address": address, "payload": payload, "next_attempt_at": now,
        "created_at": now}


class Outbound:
    """The replies of one or more turns, written together just before they are committed.

    Two multi-row INSERTs (transcript messages, then outbox rows) however many replies a
    batch of turns wrote, instead of two statements a reply; rows keep the order they were
    added in, so a renter's replies go out in order.
    """

    def __init__(self) -> None:
        self.rows: list[tuple[dict[str, Any] | None, dict[str, Any]]] = []

    def add(self, **fields: Any) -> None:
        """Queue one outbound message (the arguments of `enqueue`)."""
        self.rows.append(outbound_rows(**fields))

    def write(self, conn: Any) -> None:
        """Insert what was added, in the caller's transaction."""
        if not self.rows:
            return
        messages = [message for message, _ in self.rows if message is not None]
        ids = iter(conn.execute(INSERT_MESSAGES, messages).scalars().all() if messages else ())
        for message, row in self.rows:
            if message is not None:
                row["message_id"] = next(ids)
        conn.execute(OUTBOX.insert(), [row for _, row in self.rows])
        self.rows = []


def documents_of(session: Session, row: Any,
                 now: datetime) -> tuple[tuple[str, str, bytes], ...]:
    """Our own signed document links of a row, as files to upload.

    Telegram cannot fetch from a service without a public URL; only the row's tenant's
    documents are read.
    """
    files = []
    for url in (row.payload or {}).get("media_urls") or ():
        doc_id, _ = read_token(url.rsplit("/d/", 1)[-1], now) if "/d/" in url else (None, "")
        document = session.get(Document, doc_id) if doc_id is not None else None
        if document is not None and document.tenant_id == row.tenant_id:
            files.append((document.filename, document.content_type, document.data))
    return tuple(files)


def backoff(attempt: int, rng: random.Random = random._inst) -> float:  # type: ignore[attr-defined]
    """Seconds to wait before try `attempt + 1`: exponential, capped, with jitter."""
    delay = min(MAX_DELAY, BASE_DELAY * 2 ** max(0, attempt - 1))
    return delay / 2 + rng.uniform(0, delay / 2)


@dataclass(frozen=True)
class Claim:
    """A row this worker claimed, with what sending it needs."""

    row_id: int
    channel: str
    message_id: int | None
    sensitive: bool
    message: OutboundMessage | None  # None: WhatsApp needs a template the tenant lacks
    conversation_id: int | None = None
    echo: bool = False  # a staff reply: its delivery is shown back in the staff topic


class OutboxRelay:
    """Sends due outbox rows through the channel adapters."""

    def __init__(self, db: Database, channels: dict[str, ChannelAdapter], breakers: Breakers,
                 clock: Clock, worker_id: str | None = None, parallel: int = 8,
                 tenants: TenantCache | None = None) -> None:
        self.db = db
        self.channels = channels
        self.breakers = breakers
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self._last_reclaim: datetime | None = None
        self.tenants = tenants or TenantCache()
        self.parallel = parallel
        self._executor: ThreadPoolExecutor | None = None

    def run_once(self, limit: int = 100, conversation_id: int | None = None) -> int:
        """Deliver what is due now (of one conversation, if given); returns how many were sent."""
        now = self.clock.now()
        if self._last_reclaim is None or abs((now - self._last_reclaim).total_seconds()) > 30:
            self._reclaim_stale(now)
            self._last_reclaim = now
        with self.db.session() as s:
            claims = self.claim_due(s, now, limit, conversation_id)
        return self.deliver(claims)

    def has_unsent(self, conversation_id: int, now: datetime) -> bool:
        """Whether a reply of this conversation is due or being sent (not waiting for a retry)."""
        o = OUTBOX.c
        with self.db.transaction() as conn:
            return conn.execute(select(o.id).where(
                o.conversation_id == conversation_id,
                (o.state == SENDING) | ((o.state == PENDING) & (o.next_attempt_at <= now)),
            ).limit(1)).first() is not None

    def deliver(self, claims: list[Claim]) -> int:
        """Send claimed rows: renters in parallel, each renter's messages in order.

        The rows sent are marked together once all are out: one transaction, not one a row.
        A reply written meanwhile for one of these renters (by another worker, which could
        not claim it while theirs was being sent) is claimed in that transaction and sent next.
        """
        total = 0
        while claims:
            lanes: dict[tuple[int | None, str], list[Claim]] = {}
            for claim in claims:
                lanes.setdefault((claim.conversation_id, claim.channel), []).append(claim)
            sent: list[tuple[Claim, str, str]] = []
            try:
                if len(lanes) <= 1 or self.parallel <= 1:
                    total += sum(self._deliver_lane(lane, sent) for lane in lanes.values())
                else:  # provider round trips overlap
                    total += sum(self._pool().map(partial(self._deliver_lane, sent=sent),
                                                  lanes.values()))
            except BaseException:
                self._mark_all_sent(sent)  # what went out is recorded; nothing more is claimed
                raise
            claims = self._mark_all_sent(sent, follow=True)
        return total

    def _deliver_lane(self, claims: list[Claim], sent: list[tuple[Claim, str, str]]) -> int:
        """One renter's claimed rows in order; at the first failure the rest go back unsent."""
        for count, claim in enumerate(claims):
            if not self._send_claimed(claim, sent):
                self._release([c.row_id for c in claims[count + 1:]])
                return count
        return len(claims)

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.parallel, thread_name_prefix="crms-send")
        return self._executor

    def claim_due(self, s: Session, now: datetime, limit: int = 100,
                  conversation_id: int | None = None,
                  conversation_ids: list[int] | None = None) -> list[Claim]:
        """Claim up to `limit` due rows in the caller's transaction, oldest first.

        One UPDATE over the due rows: of two workers each row goes to exactly one (on
        PostgreSQL the inner select skips rows another worker holds locked). A turn claims its
        own replies this way before it commits, so they go out without another transaction.
        """
        mode = "many" if conversation_ids is not None else \
            "one" if conversation_id is not None else "all"
        statement = self._claim_statements[mode]
        params = {"now": now, "limit": limit, "worker": self.worker_id, "conv": conversation_id,
                  "convs": conversation_ids}
        rows = s.connection().execute(statement, params).all()
        return [self._claimed(s, row, now) for row in sorted(rows, key=lambda r: r.id)]

    @cached_property
    def _claim_statements(self) -> dict[str, Any]:
        """The claim UPDATE, built once (all, one conversation, several); values are bound.

        Core statements on the table: the ORM's bulk-update machinery cost more than the
        UPDATE itself on this path, which every reply takes.
        """
        statements = {}
        o = OUTBOX.c
        for mode in ("all", "one", "many"):
            # A renter's messages go out in order: not while another of theirs is being
            # sent (by another worker, or a job answering the same conversation).
            sending = OUTBOX.alias("sending")
            busy = exists().where(sending.c.conversation_id == o.conversation_id,
                                  sending.c.state == SENDING)
            due = select(o.id).where(o.state == PENDING, o.next_attempt_at <= bindparam("now"),
                                     ~busy)
            if mode == "one":
                due = due.where(o.conversation_id == bindparam("conv"))
            elif mode == "many":
                due = due.where(among(o.conversation_id, "convs"))
            due = due.order_by(o.id).limit(bindparam("limit"))
            if self.db.is_postgres:
                due = due.with_for_update(skip_locked=True)
            statements[mode] = OUTBOX.update().where(
                o.id.in_(due.scalar_subquery()), o.state == PENDING,
            ).values(state=SENDING, claimed_by=bindparam("worker"),
                     claimed_at=bindparam("now")).returning(
                o.id, o.tenant_id, o.conversation_id, o.message_id, o.channel, o.address,
                o.payload)
        return statements

    def _claimed(self, s: Session, row: Any, now: datetime) -> Claim:
        payload = row.payload or {}
        return Claim(row.id, row.channel, row.message_id, bool(payload.get("sensitive")),
                     self._outbound(s, row, now, self._tenant(s, row.tenant_id)),
                     row.conversation_id, echo="staff_message_id" in payload)

    def _release(self, row_ids: list[int]) -> None:
        """Put claimed rows back untouched (an earlier message of the same renter failed)."""
        if row_ids:
            with self.db.session() as s:
                s.execute(update(OutboxItem).where(
                    OutboxItem.id.in_(row_ids), OutboxItem.state == SENDING,
                ).values(state=PENDING, claimed_by=None),
                    execution_options={"synchronize_session": False})

    def _claim(self, row_id: int, now: datetime) -> Claim | None:
        """Claim the row and build its message in one transaction; None if another worker won.

        Compare-and-set: of two workers, exactly one changes the row (SQLite and PostgreSQL).
        The message is None when WhatsApp needs a template the tenant does not have.
        """
        with self.db.session() as s:
            result = s.execute(update(OutboxItem).where(
                OutboxItem.id == row_id, OutboxItem.state == PENDING,
            ).values(state=SENDING, claimed_by=self.worker_id, claimed_at=now))
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = s.get(OutboxItem, row_id)
            assert row is not None
            return self._claimed(s, row, now)

    def _reclaim_stale(self, now: datetime) -> None:
        # A worker that died mid-send leaves its row in `sending`; after the lease it is retried.
        with self.db.session() as s:
            s.execute(update(OutboxItem).where(
                OutboxItem.state == SENDING, OutboxItem.claimed_at < now - LEASE,
            ).values(state=PENDING, claimed_by=None))

    def _deliver(self, row_id: int, now: datetime) -> bool:
        claim = self._claim(row_id, now)
        return False if claim is None else self._send_claimed(claim)

    def _send_claimed(self, claim: Claim,
                      sent: list[tuple[Claim, str, str]] | None = None) -> bool:
        """Send one claimed row; marked sent now, or added to `sent` for the caller to mark."""
        row_id, channel, message = claim.row_id, claim.channel, claim.message
        if message is None:  # WhatsApp outside the window without a template
            return self._reroute_to_sms(row_id, "outside the 24-hour window, no template")
        adapter = self.channels.get(channel)
        breaker = self.breakers.get(PROVIDER_OF.get(channel, channel))
        if adapter is None:
            return self._finish(row_id, error=f"no adapter for channel {channel}", permanent=True)
        if not breaker.allow():
            return self._finish(row_id, error="circuit open", retry_in=breaker.retry_in() + 1,
                                count=False)
        if channel == "staff" and claim.conversation_id:  # read now: an earlier row may open it
            message = replace(message, thread_id=self._staff_topic(claim.conversation_id))
        try:
            result = adapter.send(message)
        except PermanentSendError as exc:
            return self._refused(row_id, channel, exc)
        except TransientSendError as exc:
            if exc.retry_in is not None:  # rate limited: wait as told, not a failure
                return self._finish(row_id, error=str(exc), retry_in=exc.retry_in, count=False)
            breaker.record_failure()
            metrics.SEND_FAILURES.labels(channel).inc()
            return self._finish(row_id, error=f"{type(exc).__name__}: {exc}")
        except (OSError, TimeoutError) as exc:
            breaker.record_failure()
            metrics.SEND_FAILURES.labels(channel).inc()
            return self._finish(row_id, error=f"{type(exc).__name__}: {exc}")
        breaker.record_success()
        metrics.MESSAGES_OUT.labels(channel).inc()
        if channel == "sms":
            encoding, parts = segments(message.text)
            metrics.SMS_SEGMENTS.labels(encoding).inc(parts)
        if result.thread_id is not None and result.thread_id != message.thread_id:
            self._remember_topic(claim.conversation_id, result.thread_id)
        if sent is None:
            return self._mark_sent(claim, result.provider_message_id, result.status)
        sent.append((claim, result.provider_message_id, result.status))
        return True

    def _staff_topic(self, conversation_id: int) -> int | None:
        """The renter's topic in the staff group, read at send time (an earlier row made it)."""
        with self.db.session() as s:
            return s.scalar(select(Conversation.staff_topic_id)
                            .where(Conversation.id == conversation_id))

    def _remember_topic(self, conversation_id: int | None, thread_id: int) -> None:
        if conversation_id is not None:
            with self.db.session() as s:
                s.execute(update(Conversation).where(Conversation.id == conversation_id)
                          .values(staff_topic_id=thread_id),
                          execution_options={"synchronize_session": False})

    def _refused(self, row_id: int, channel: str, exc: PermanentSendError) -> bool:
        if exc.code == OUTSIDE_WINDOW_ERROR and channel == "whatsapp":
            return self._reroute_to_sms(row_id, "WhatsApp refused: outside the 24-hour window")
        if exc.code == UNSUBSCRIBED:  # the renter said STOP to the carrier: not a failure
            self._record_opt_out(row_id)
            return self._finish(row_id, error=str(exc), permanent=True, code=exc.code,
                                status="blocked")
        metrics.SEND_FAILURES.labels(channel).inc()
        return self._finish(row_id, error=str(exc), permanent=True, code=exc.code)

    def _tenant(self, s: Session, tenant_id: int) -> Tenant:
        """The tenant, kept for a while: numbers and templates change rarely."""
        tenant = self.tenants.get(s, tenant_id)
        assert tenant is not None
        return tenant

    @staticmethod
    def _outbound(s: Session, row: Any, now: datetime,
                  tenant: Tenant) -> OutboundMessage | None:
        payload = row.payload or {}
        sender = {"whatsapp": tenant.whatsapp_number, "sms": tenant.sms_number}.get(row.channel)
        template = None
        if row.channel == "whatsapp" and payload.get("initiated"):
            conv = s.get(Conversation, row.conversation_id) if row.conversation_id else None
            if not inside_window(conv, now):
                template = template_for(tenant, payload)
                if template is None:
                    return None
        location = payload.get("location")
        return OutboundMessage(
            channel=row.channel, address=row.address, text=payload.get("text", ""),
            buttons=tuple(Button(t, p) for t, p in payload.get("buttons") or []),
            location=tuple(location) if location else None,  # type: ignore[arg-type]
            idempotency_key=f"outbox-{row.id}", tenant_id=row.tenant_id, sender=sender,
            template=template, media_urls=tuple(payload.get("media_urls") or ()),
            files=documents_of(s, row, now) if row.channel == "telegram" else (),
            topic_name=payload.get("topic_name"), reaction=payload.get("reaction"),
            react_to=payload.get("react_to"))

    def _reroute_to_sms(self, row_id: int, reason: str) -> bool:
        """Send by SMS instead (the renter's WhatsApp number is a phone number)."""
        with self.db.session() as s:
            row = s.get(OutboxItem, row_id)
            assert row is not None
            tenant = s.get(Tenant, row.tenant_id)
            if tenant is None or not tenant.sms_number:
                row.state, row.last_error = DEAD, f"{reason}; tenant has no SMS number"
                if tenant is not None:  # flag it to staff, in the tenant's language
                    from bot.staff import post

                    conv = s.get(Conversation, row.conversation_id) if row.conversation_id else None
                    if conv is not None:
                        post(s, tenant, conv, self.clock.now(), "staff.undeliverable",
                             reason=reason, text=(row.payload or {}).get("text", "")[:300])
                return False
            row.channel, row.state, row.claimed_by = "sms", PENDING, None
            row.payload = {**(row.payload or {}), "rerouted_from": "whatsapp",
                           "text": gsm_friendly((row.payload or {}).get("text", ""))}
            message = s.get(Message, row.message_id) if row.message_id else None
            if message is not None:
                message.channel = "sms"
            log.info("outbox %s goes by SMS: %s", row_id, reason)
        return self._deliver(row_id, self.clock.now())

    def resend_by_sms(self, s: Session, message: Message) -> bool:
        """A WhatsApp message refused after sending (63016): queue the same text by SMS.

        Whether it was queued (not when it went by SMS already).
        """
        row = s.scalar(select(OutboxItem).where(OutboxItem.message_id == message.id))
        if row is None or (row.payload or {}).get("rerouted_from"):
            return False
        s.add(OutboxItem(tenant_id=row.tenant_id, conversation_id=row.conversation_id,
                         channel="sms", address=row.address,
                         payload={**(row.payload or {}), "rerouted_from": "whatsapp",
                                  "text": gsm_friendly((row.payload or {}).get("text", ""))},
                         next_attempt_at=self.clock.now(), created_at=self.clock.now()))
        log.info("message %s refused outside the WhatsApp window: queued by SMS", message.id)
        return True

    def _record_opt_out(self, row_id: int) -> None:
        with self.db.session() as s:
            row = s.get(OutboxItem, row_id)
            conv = s.get(Conversation, row.conversation_id) if row and row.conversation_id else None
            if conv is None:
                return
            conv.data = {**(conv.data or {}), "opted_out": True}
            if conv.customer_id is not None:
                s.execute(update(Customer).where(Customer.id == conv.customer_id)
                          .values(opted_out=True))

    def _mark_sent(self, claim: Claim, provider_id: str, status: str) -> bool:
        self._mark_all_sent([(claim, provider_id, status)])
        return True

    def _mark_all_sent(self, sent: list[tuple[Claim, str, str]],
                       follow: bool = False) -> list[Claim]:
        """Mark sent rows and their transcript messages, in one transaction.

        One statement a kind however many rows; a status callback that came first is kept.
        With `follow`, the rows now due for the same renters are claimed in the same
        transaction and returned, for the caller to send.
        """
        if not sent:
            return []
        now = self.clock.now()
        rows: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
        messages = []
        for claim, provider_id, status in sent:
            rows[claim.sensitive].append({"p_row": claim.row_id, "p_sent": now,
                                          "p_provider": provider_id})
            if claim.message_id is not None:
                messages.append({"p_message": claim.message_id, "p_provider": provider_id,
                                 "p_status": status, "p_rank": RANK.get(status, -1)})
        row_update, message_update = self._mark_statements
        with self.db.transaction() as conn:
            for sensitive, params in rows.items():
                if params:
                    conn.execute(row_update[sensitive], params)
            if messages:
                conn.execute(message_update, messages)
            echoes = [claim for claim, _, _ in sent if claim.echo and claim.message_id]
            renters = list({c.conversation_id for c, _, _ in sent if c.conversation_id})
            if not echoes and not (follow and renters):
                return []
            with Session(bind=conn) as s:
                if echoes:  # staff replies: shown as delivered in the staff topic
                    from bot.staff import echo_status

                    statuses = {claim.row_id: status for claim, _, status in sent}
                    for claim in echoes:
                        message = s.get(Message, claim.message_id)
                        if message is not None:
                            echo_status(s, message, statuses[claim.row_id], now)
                    s.flush()
                return self.claim_due(s, now, conversation_ids=renters) if follow and renters \
                    else []

    @cached_property
    def _mark_statements(self) -> tuple[dict[bool, Any], Any]:
        """The UPDATEs of sent rows (one-time codes erased) and of their messages.

        Built once (Core); executed with many rows' values at once.
        """
        o, m = OUTBOX.c, MESSAGES.c
        sent = OUTBOX.update().where(o.id == bindparam("p_row")).values(
            state=SENT, sent_at=bindparam("p_sent"), last_error=None,
            provider_message_id=bindparam("p_provider"))
        rank = case(RANK, value=m.status, else_=len(RANK) * 10)  # unknown: never moved
        forward = case((rank < bindparam("p_rank"), bindparam("p_status")), else_=m.status)
        message = MESSAGES.update().where(m.id == bindparam("p_message")).values(
            provider_message_id=bindparam("p_provider"), status=forward)
        # one-time codes do not stay in the outbox
        erased = sent.values(payload={"sensitive": True, "erased": True})
        return {False: sent, True: erased}, message

    def _finish(self, row_id: int, *, error: str, permanent: bool = False,
                code: str | None = None, retry_in: float | None = None, count: bool = True,
                status: str = "failed") -> bool:
        """A failed try: retry later with backoff, or dead-letter. Returns False."""
        now = self.clock.now()
        with self.db.session() as s:
            row = s.get(OutboxItem, row_id)
            assert row is not None
            message = s.get(Message, row.message_id) if row.message_id else None
            row.attempts += 1 if count else 0
            row.last_error = error[:1000]
            row.claimed_by = None
            if permanent or row.attempts >= MAX_ATTEMPTS:
                row.state = DEAD
                log.error("outbox %s dead after %s attempts: %s", row_id, row.attempts, error)
                if message is not None:
                    advance(message, status, code)
            else:
                row.state = PENDING
                row.next_attempt_at = now + timedelta(
                    seconds=retry_in if retry_in is not None else backoff(row.attempts))
                log.warning("outbox %s attempt %s failed, retry at %s: %s",
                            row_id, row.attempts, row.next_attempt_at.isoformat(), error)
            return False

    def refresh_gauges(self) -> None:
        """Update the backlog and dead-letter gauges."""
        with self.db.session() as s:
            counts = dict(s.execute(select(OutboxItem.state, func.count()).where(
                OutboxItem.state.in_([PENDING, SENDING, DEAD])).group_by(OutboxItem.state)).all())
        metrics.OUTBOX_BACKLOG.set(counts.get(PENDING, 0) + counts.get(SENDING, 0))
        metrics.DEAD_LETTERS.set(counts.get(DEAD, 0))

    def retry_dead(self, row_ids: list[int] | None = None) -> int:
        """Put dead letters back in the queue (after fixing the cause)."""
        with self.db.session() as s:
            query = update(OutboxItem).where(OutboxItem.state == DEAD)
            if row_ids:
                query = query.where(OutboxItem.id.in_(row_ids))
            result = s.execute(query.values(state=PENDING, attempts=0,
                                            next_attempt_at=self.clock.now()))
            return result.rowcount  # type: ignore[attr-defined,no-any-return]
