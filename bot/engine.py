"""The conversation engine: record once, lock, understand, run the flow, write the outbox."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from bot import crypto, metrics, staff
from bot.db import Database, among
from bot.documents import link, store
from bot.i18n import ZURICH
from bot.language import choose_language
from bot.messages import FetchedMedia, InboundMessage, Media, Reply
from bot.models import Conversation, Customer, Document, Message
from bot.outbox import INSERT_MESSAGE, MESSAGES, Outbound
from bot.rendering import Rendered, render
from bot.repository import (
    customer_ids_by_phones,
    customers_by_id,
    customers_by_phone,
    normalise_phone,
    tenant_by_number,
    tenant_by_slug,
)
from bot.services.ports import Services
from bot.sms import split_long
from bot.tenant_cache import TenantCache
from flows.base import Context, Turn
from flows.registry import BY_NAME, GLOBAL_INTENTS, IDENTIFY, flow_for_intent
from flows.reminder_reply import in_context

log = logging.getLogger(__name__)
MAX_STORED_TEXT = 4096
MAX_NLU_TEXT = 1000
PAYLOADS = {"/yes": "affirm", "/no": "deny", "/agent": "human_agent", "/help": "help",
            "/pay_online": "pay_online", "/pay_qr_bill": "pay_qr_bill",
            "/pay_deposit": "pay_deposit"}
# What the bot still answers while staff hold the conversation: consent first, and an
# accident or breakdown (when the NLU is sure) gets the emergency instructions at once.
KEEP_IN_STAFF_MODE = frozenset({"opt_out", "opt_in", "delete_data"})
URGENT_IN_STAFF_MODE = frozenset({"report_problem"})
URGENT_CONFIDENCE = 0.85
CONVERSATION_CACHE_SIZE = 100_000
KNOWN_RENTERS = "crms.known_renters"  # session.info: a batch's renters by phone, read at once

# The statements every inbound message runs, built once: Core on the tables, values bound.
CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
INSERT_CONVERSATION = CONVERSATIONS.insert().returning(CONVERSATIONS.c.id)
FIND_CONVERSATION = select(CONVERSATIONS.c.id).where(
    CONVERSATIONS.c.tenant_id == bindparam("tenant_id"),
    CONVERSATIONS.c.channel == bindparam("channel"),
    CONVERSATIONS.c.address_hash == bindparam("digest"))
_UNHANDLED = select(MESSAGES.c.id, MESSAGES.c.conversation_id, MESSAGES.c.body,
                    MESSAGES.c.payload, MESSAGES.c.created_at).where(
    MESSAGES.c.direction == "in", MESSAGES.c.processed_at.is_(None))
# A turn holds its conversation's row: FOR NO KEY UPDATE, which keeps other turns out but
# lets the webhook insert the renter's next message meanwhile (its foreign key takes KEY
# SHARE, which FOR UPDATE would make wait until the turn commits).
TURN_LOCK: dict[str, Any] = {"key_share": True}
PENDING_INBOUND = _UNHANDLED.where(
    MESSAGES.c.conversation_id == bindparam("conv")).order_by(MESSAGES.c.id)
PENDING_INBOUND_OF_MANY = _UNHANDLED.where(  # a batch of conversations: one query
    among(MESSAGES.c.conversation_id, "convs")).order_by(MESSAGES.c.id)
LOCK_CONVERSATIONS = select(Conversation).where(
    among(CONVERSATIONS.c.id, "convs")).order_by(Conversation.id).with_for_update(**TURN_LOCK)
FINISH_INBOUND = MESSAGES.update().where(
    MESSAGES.c.id == bindparam("p_id"), MESSAGES.c.processed_at.is_(None)).values(
    intent=bindparam("p_intent"), language=bindparam("p_language"),
    processed_at=bindparam("p_at"), status=bindparam("p_status"))


class UnknownTenant(LookupError):
    """No tenant owns the number or slug the message was sent to."""


class AlreadyHandled(RuntimeError):
    """Another worker handled the message meanwhile (its lock had expired): undo this turn."""


@dataclass(frozen=True)
class Inbound:
    """A recorded inbound message, as a turn reads it."""

    id: int
    conversation_id: int
    body: str | None
    payload: dict[str, Any] | None
    created_at: Any


@dataclass(frozen=True)
class Batch:
    """What `process_batch` did."""

    handled: int  # messages
    answered: set[int]  # conversations with a message handled
    claims: list[Any]  # their replies, claimed for sending
    left: list[int]  # conversations not handled here: answer them one by one


@dataclass(frozen=True)
class Receipt:
    """What `receive` did with an inbound message."""

    message_id: int | None
    conversation_id: int
    duplicate: bool


class Engine:
    """Handles inbound messages; side effects leave only through the outbox."""

    def __init__(self, db: Database, services: Services,
                 after_commit: Callable[[], None] = lambda: None, *,
                 run_job: Callable[..., None], tenants: TenantCache | None = None) -> None:
        self.db = db
        self.services = services
        self.after_commit = after_commit
        self.run_job = run_job  # how flows' slow work (OCR) is queued: the runtime's workers
        self._conversation_ids: dict[tuple[int, str, str], int] = {}
        self.tenants = tenants or TenantCache()

    def handle(self, inbound: InboundMessage) -> Receipt:
        """Record the message and process its conversation now (tests, CLI, embedded jobs)."""
        receipt = self.receive(inbound)
        if not receipt.duplicate:
            self.process_conversation(receipt.conversation_id)
        return receipt

    def receive(self, inbound: InboundMessage) -> Receipt:
        """Record an inbound message once (unique on channel + provider id); fast."""
        text = (inbound.text or "").replace("\x00", "")
        payload: dict[str, Any] = {
            "media": [{"url": m.url, "content_type": m.content_type} for m in inbound.media]}
        if len(text) > MAX_STORED_TEXT:
            payload["truncated_from"] = len(text)
            text = text[:MAX_STORED_TEXT]
        if inbound.language_hint:
            payload["language_hint"] = inbound.language_hint
        if inbound.contact:
            payload["contact"] = True
        provider_id = inbound.provider_id or f"local-{uuid.uuid4().hex}"
        # Tried again when another worker opened the conversation meanwhile, or when the
        # database had dropped the pooled connection (PostgreSQL restarted: no ping per use).
        # Each statement commits by itself: a conversation opened for a message that turns
        # out to be a duplicate is the renter's conversation all the same.
        for attempt in range(3):
            opened = False
            try:
                with self.db.autocommit() as conn:
                    tenant_id, address, digest, conv_id = self._find_conversation(conn, inbound)
                    if conv_id is None:
                        opened = True
                        conv_id = conn.execute(INSERT_CONVERSATION, {
                            "tenant_id": tenant_id, "channel": inbound.channel,
                            "address": address, "address_hash": digest, "data": {},
                            "created_at": self.services.clock.now()}).scalar_one()
                    message_id = conn.execute(INSERT_MESSAGE, {
                        "tenant_id": tenant_id, "conversation_id": conv_id, "direction": "in",
                        "channel": inbound.channel, "provider_message_id": provider_id,
                        "body": text, "payload": payload,
                        "created_at": self.services.clock.now()}).scalar_one()
            except IntegrityError:
                if opened:
                    continue
                metrics.DUPLICATES.labels(inbound.channel).inc()
                log.info("duplicate inbound %s on %s ignored", provider_id, inbound.channel)
                return Receipt(None, conv_id, True)  # type: ignore[arg-type]
            except DBAPIError as exc:
                if exc.connection_invalidated and attempt < 2:
                    log.warning("database connection dropped; recording the message again")
                    continue
                raise
            self._remember_conversation(tenant_id, inbound.channel, digest, conv_id)
            metrics.MESSAGES_IN.labels(inbound.channel).inc()
            return Receipt(message_id, conv_id, False)
        raise RuntimeError("could not record the inbound message")  # pragma: no cover

    def _find_conversation(self, conn: Connection,
                           inbound: InboundMessage) -> tuple[int, str, str, int | None]:
        tenant_id = self._tenant_id(conn, inbound)
        address = self._address(inbound)
        digest = crypto.lookup_hash(f"{inbound.channel}:{address}")
        found = self._conversation_ids.get((tenant_id, inbound.channel, digest))
        if found is None:
            found = conn.execute(FIND_CONVERSATION, {
                "tenant_id": tenant_id, "channel": inbound.channel, "digest": digest}).scalar()
        return tenant_id, address, digest, found

    def _remember_conversation(self, tenant_id: int, channel: str, digest: str,
                               conversation_id: int) -> None:
        """Conversations are never deleted (erasure empties them): their ids can be kept."""
        if len(self._conversation_ids) >= CONVERSATION_CACHE_SIZE:
            self._conversation_ids.clear()
        self._conversation_ids[(tenant_id, channel, digest)] = conversation_id

    def _tenant_id(self, conn: Connection, inbound: InboundMessage) -> int:
        """The tenant the message was sent to (every webhook asks: kept in the tenant cache)."""
        if inbound.tenant_slug:
            slug = inbound.tenant_slug
            tenant_id = self.tenants.find(conn, f"slug:{slug}", lambda s: tenant_by_slug(s, slug))
        else:
            number = inbound.to or ""
            tenant_id = self.tenants.find(conn, f"number:{number}",
                                          lambda s: tenant_by_number(s, number) if number else None)
        if tenant_id is None:
            raise UnknownTenant(inbound.tenant_slug or inbound.to or "?")
        return tenant_id

    @staticmethod
    def _address(inbound: InboundMessage) -> str:
        if inbound.channel in ("sms", "whatsapp"):
            phone = normalise_phone(inbound.sender)
            if phone is None:
                raise ValueError("sender is not a phone number")
            return phone
        return inbound.sender.strip()

    def process_conversation(self, conversation_id: int, notify: bool = True,
                             claim: Callable[[Session], list[Any]] | None = None,
                             claimed: list[Any] | None = None) -> int:
        """Handle every unprocessed inbound message of a conversation, in order, under its lock.

        With `notify` the delivery worker is woken afterwards. A job that sends the
        conversation's replies itself passes False and a `claim`, which runs in the last
        turn's transaction; what it claimed is added to `claimed` once that commits.
        """
        handled = 0
        pending: list[Inbound] | None = None  # read once: a later message brings its own job
        jobs: list[tuple[str, tuple[Any, ...]]] = []  # queued once the lock is released
        with self.services.locks.lock(f"conv:{conversation_id}"):
            while pending is None or pending:
                started = time.perf_counter()
                message_id = None
                claimed_now: list[Any] = []
                try:
                    with self.db.session() as s:
                        if pending is None:
                            pending = self._pending(s, conversation_id)
                            if not pending:
                                break
                        message = pending.pop(0)
                        message_id = message.id
                        out = Outbound()
                        finished, turn_jobs = self._process(s, message, out)
                        self._commit_turns(s.connection(), out, [finished])
                        jobs += turn_jobs
                        if not pending and claim is not None:
                            claimed_now = claim(s)
                    if claimed is not None:  # committed: the rows are ours to send
                        claimed.extend(claimed_now)
                except AlreadyHandled:
                    log.warning("message %s was handled by another worker", message_id)
                    continue
                except Exception:
                    log.exception("handling message %s failed; renter gets an apology", message_id)
                    if message_id is None:
                        raise
                    with self.db.session() as s:
                        self._fail(s, message_id)
                metrics.HANDLING.observe(time.perf_counter() - started)
                handled += 1
        self._queue(jobs)
        if handled and notify:
            self.after_commit()
        return handled

    def process_batch(self, conversation_ids: list[int],
                      claim: Callable[[Session, list[int]], list[Any]] | None = None) -> Batch:
        """Handle the unprocessed messages of several conversations in one transaction.

        A drain job's batch: the conversations whose locks are free are locked together,
        their messages read in one query, their replies written in two and their messages
        marked handled in one, whatever the batch's size. `claim` runs before the commit, as
        in `process_conversation`. The conversations another worker holds, and all of them
        when a turn fails (each then gets the careful path: its own transaction, an apology
        if it fails again), are returned in `left` for `process_conversation`.
        """
        keys = {f"conv:{conversation_id}": conversation_id for conversation_id in conversation_ids}
        with self.services.locks.lock_free(list(keys)) as held:
            mine = [conversation_id for key, conversation_id in keys.items() if key in held]
            left = [conversation_id for key, conversation_id in keys.items() if key not in held]
            if not mine:
                return Batch(0, set(), [], left)
            started = time.perf_counter()
            try:
                with self.db.session() as s:
                    answered, jobs = self._turns(s, mine)
                    claims = claim(s, mine) if claim is not None and answered else []
            except Exception:  # noqa: BLE001 - nothing of the batch was committed
                log.warning("a batch of %s conversations failed; answering them one by one",
                            len(mine), exc_info=True)
                return Batch(0, set(), [], mine + left)
        self._queue(jobs)
        handled = sum(answered.values())
        for _ in range(handled):  # the batch's time, shared by its messages
            metrics.HANDLING.observe((time.perf_counter() - started) / handled)
        return Batch(handled, set(answered), claims, left)

    def _turns(self, s: Session, conversation_ids: list[int]
               ) -> tuple[dict[int, int], list[tuple[str, tuple[Any, ...]]]]:
        """Every unprocessed message of these conversations, in order, in the session."""
        # locked, and held here: the session keeps only objects something refers to
        conversations = s.scalars(LOCK_CONVERSATIONS, {"convs": conversation_ids}).all()
        pending = [Inbound(*row) for row in s.connection().execute(
            PENDING_INBOUND_OF_MANY, {"convs": conversation_ids})]
        s.info[KNOWN_RENTERS] = customer_ids_by_phones(s, [
            (conv.tenant_id, conv.address) for conv in conversations if self._unlinked(conv)])
        out, finished = Outbound(), []
        answered: dict[int, int] = {}
        jobs: list[tuple[str, tuple[Any, ...]]] = []
        for message in pending:
            done, turn_jobs = self._process(s, message, out, locked=True)
            finished.append(done)
            jobs += turn_jobs
            answered[message.conversation_id] = answered.get(message.conversation_id, 0) + 1
        self._commit_turns(s.connection(), out, finished)
        del conversations
        return answered, jobs

    @staticmethod
    def _commit_turns(conn: Connection, out: Outbound, finished: list[dict[str, Any]]) -> None:
        """Write the turns' replies and mark their messages handled, before the commit.

        A message another worker handled meanwhile (its lock had expired) undoes the turns.
        """
        out.write(conn)
        if not finished:
            return
        if len(finished) > 1 and conn.dialect.supports_sane_multi_rowcount:
            if conn.execute(FINISH_INBOUND, finished).rowcount != len(finished):
                raise AlreadyHandled([f["p_id"] for f in finished])
            return
        for params in finished:
            if conn.execute(FINISH_INBOUND, params).rowcount != 1:
                raise AlreadyHandled(params["p_id"])

    @staticmethod
    def _pending(s: Session, conversation_id: int) -> list[Inbound]:
        """The conversation's unhandled inbound messages, oldest first, in one query."""
        return [Inbound(*row) for row in
                s.connection().execute(PENDING_INBOUND, {"conv": conversation_id})]

    def pending_conversations(self, received_before: datetime | None = None) -> list[int]:
        """Conversations with inbound messages not yet handled (recovery after a crash).

        With `received_before`, only those waiting since then: a worker that died with them.
        """
        query = select(Message.conversation_id).where(
            Message.direction == "in", Message.processed_at.is_(None))
        if received_before is not None:
            query = query.where(Message.created_at < received_before)
        with self.db.session() as s:
            return list(s.scalars(query.distinct()))

    def _context(self, s: Session, conversation_id: int, locked: bool = False) -> Context | None:
        """The conversation (row-locked on PostgreSQL) and its tenant, for a turn or an event.

        `locked`: the session locked and loaded it already (a batch).
        """
        lock_row = self.db.is_postgres and not locked
        conv = s.get(Conversation, conversation_id, with_for_update=TURN_LOCK if lock_row else None)
        if conv is None:
            return None
        tenant = self.tenants.get(s, conv.tenant_id)
        assert tenant is not None
        return Context(session=s, tenant=tenant, conversation=conv, services=self.services,
                       now=self.services.clock.now())

    def _process(self, s: Session, msg: Inbound, out: Outbound, locked: bool = False
                 ) -> tuple[dict[str, Any], list[tuple[str, tuple[Any, ...]]]]:
        """One message's turn.

        Returns how to mark the message handled (with the replies, in `_commit_turns`) and
        the slow work to queue after the commit.
        """
        ctx = self._context(s, msg.conversation_id, locked)
        assert ctx is not None  # a message's conversation is never deleted
        conv = ctx.conversation
        conv.last_inbound_at = msg.created_at
        turn = self._understand(ctx, msg)
        self._dispatch(ctx, turn)
        self._write(ctx, out)
        return {"p_id": msg.id, "p_intent": turn.intent, "p_language": conv.language,
                "p_at": ctx.now, "p_status": "processed"}, ctx.jobs

    def _queue(self, jobs: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Hand the turn's slow work on; the turn itself is committed whatever happens here."""
        for name, args in jobs:
            try:
                self.run_job(name, *args)
            except Exception:  # noqa: BLE001 - logged; the state stays visible to staff
                log.exception("job %s could not run", name)

    def continue_flow(self, conversation_id: int, flow: str, event: str,
                      **data: Any) -> None:
        """A job's result goes back into the conversation (OCR done).

        The flow's `on_event_<event>` runs under the conversation's lock, as a turn would.
        """
        jobs: list[tuple[str, tuple[Any, ...]]] = []
        with self.services.locks.lock(f"conv:{conversation_id}"):
            with self.db.session() as s:
                ctx = self._context(s, conversation_id)
                if ctx is None:
                    return
                getattr(BY_NAME[flow], f"on_event_{event}")(ctx, **data)
                self._write(ctx)
                jobs = ctx.jobs
        self._queue(jobs)
        self.after_commit()

    def _fail(self, s: Session, message_id: int) -> None:
        msg = s.get(Message, message_id)
        if msg is None or msg.processed_at is not None:  # handled after all, elsewhere
            return
        ctx = self._context(s, msg.conversation_id)
        assert ctx is not None
        msg.processed_at, msg.status = ctx.now, "failed"
        ctx.say("error.generic")
        ctx.notify_staff("staff.relay", text=msg.body or "-")
        self._write(ctx)

    def _understand(self, ctx: Context, msg: Inbound) -> Turn:
        conv = ctx.conversation
        text = (msg.body or "").strip()
        menu = (conv.data or {}).get("menu") or {}
        if menu:
            conv.data = {k: v for k, v in conv.data.items() if k != "menu"}
        text = menu.get(text, text)
        known = self._link_known_renter(ctx)
        hint = (msg.payload or {}).get("language_hint") or (known.language if known else None)
        if text.startswith("/lang "):
            language = text.split()[1]
            choose_language(conv, None, "", hint, ctx.tenant.default_language)
            return Turn(text, "change_language", entities={"language": language})
        if text in PAYLOADS:
            choose_language(conv, None, "", hint, ctx.tenant.default_language)
            return Turn(text, PAYLOADS[text])
        if (msg.payload or {}).get("contact"):
            choose_language(conv, None, "", hint, ctx.tenant.default_language)
            return Turn(text, "share_contact")
        special = self._special_input(msg, text)
        result = self.services.nlu.parse(text[:MAX_NLU_TEXT], today=ctx.now.astimezone(ZURICH).date())
        choose_language(conv, result.language, text, hint, ctx.tenant.default_language)
        media = tuple(Media(m["url"], m["content_type"]) for m in (msg.payload or {}).get("media", []))
        readable = [m for m in media if m.readable]
        if readable:  # a photo or PDF: the licence, whatever the text says
            return Turn(text, "upload_license", 1.0, result.entities, result.language, media,
                        attachments=tuple(self._fetch(conv.channel, m) for m in readable[:1]))
        if special:
            return Turn(text, special, media=media)
        return Turn(text, result.intent, result.confidence, result.entities, result.language)

    def _fetch(self, channel: str, media: Media) -> FetchedMedia:
        fetch = getattr(self.services.channels.get(channel), "fetch_media", None)
        if fetch is None:
            return FetchedMedia(media.content_type, None, "channel cannot fetch media")
        fetched: FetchedMedia = fetch(media.url)
        if fetched.problem:
            log.warning("media download failed on %s: %s", channel, fetched.problem)
        return fetched

    @staticmethod
    def _link_known_renter(ctx: Context) -> Customer | None:
        """Link the renter on a first message from a phone on a booking.

        Reminders then come to this conversation, in its language; the booking itself is
        shown only after `identify`.
        """
        conv = ctx.conversation
        if not Engine._unlinked(conv):
            return None
        known = ctx.session.info.get(KNOWN_RENTERS, {}).get((conv.tenant_id, conv.address))
        with ctx.session.no_autoflush:  # the turn's changes are flushed once, at its end
            customers = customers_by_phone(ctx.session, ctx.tenant.id, conv.address) \
                if known is None else customers_by_id(ctx.session, known)  # asked for a batch
        if not customers:
            return None
        conv.customer_id = customers[0].id
        return customers[0]

    @staticmethod
    def _unlinked(conv: Conversation) -> bool:
        """A phone conversation not linked to a renter yet (and not erased)."""
        return conv.customer_id is None and conv.channel in ("sms", "whatsapp") \
            and not (conv.data or {}).get("erased")

    @staticmethod
    def _special_input(msg: Inbound, text: str) -> str | None:
        payload = msg.payload or {}
        if payload.get("truncated_from"):
            return "_too_long"
        if payload.get("media") and not text:
            return "_media"
        if not any(ch.isalnum() for ch in text):
            return "_empty"
        return None

    def _dispatch(self, ctx: Context, turn: Turn) -> None:
        conv = ctx.conversation
        urgent = (turn.intent in URGENT_IN_STAFF_MODE and turn.confidence >= URGENT_CONFIDENCE
                  and not conv.urgent)  # once urgent, staff read the rest in the relay
        if conv.staff_mode and turn.intent not in KEEP_IN_STAFF_MODE and not urgent:
            ctx.notify_staff("staff.relay", text=self._relay_text(ctx, turn))
            return
        if turn.intent.startswith("_"):
            key = {"_too_long": "input.too_long", "_media": "input.media_unsupported"}
            ctx.say(key.get(turn.intent, "input.empty"))
            return
        turn = in_context(ctx, turn)  # "I'll be late" after a pickup reminder
        active = BY_NAME.get(conv.flow or "")
        if active is not None and turn.intent not in GLOBAL_INTENTS and active.step(ctx, turn):
            conv.fallback_count = 0
        else:
            self._start(ctx, turn)
        for _ in range(2):  # a flow may resume the intent that identification interrupted
            if not ctx.resume_intent:
                break
            intent, ctx.resume_intent = ctx.resume_intent, None
            self._start(ctx, Turn(turn.text, intent, turn.confidence, turn.entities, turn.language))

    @staticmethod
    def _relay_text(ctx: Context, turn: Turn) -> str:
        """The renter's words for staff; a photo or PDF as a signed link that expires."""
        parts = [turn.text] if turn.text else []
        for attachment in turn.attachments:
            if attachment.data is None:
                parts.append(f"[{attachment.content_type or 'file'}: {attachment.problem}]")
                continue
            kind = attachment.content_type.split("/")[-1] or "bin"
            document = store(ctx.session, ctx.tenant.id, f"renter-{ctx.conversation.id}.{kind}",
                             attachment.content_type, attachment.data, ctx.now,
                             booking_id=ctx.conversation.booking_id)
            parts.append(f"📎 {link(ctx.services.public_url, document)}")
        parts += [f"[{m.content_type}]" for m in turn.media if not m.readable]
        return "\n".join(parts) or "-"

    @staticmethod
    def _start(ctx: Context, turn: Turn) -> None:
        conv = ctx.conversation
        if turn.intent != "nlu_fallback":
            conv.fallback_count = 0
        flow = flow_for_intent(turn.intent)
        if flow.needs_booking_for(turn) and not conv.verified:
            IDENTIFY.start(ctx, turn)
            if not conv.verified:
                return
        flow.start(ctx, turn)

    def _write(self, ctx: Context, out: Outbound | None = None) -> None:
        """The turn's replies into `out` (written by the caller), else into the session now."""
        conv, tenant = ctx.conversation, ctx.tenant
        replies = out if out is not None else Outbound()
        for reply in ctx.replies:
            self._write_reply(ctx, reply, replies)
        if out is None:
            replies.write(ctx.session.connection())
        for note in ctx.staff_notes:
            staff.post(ctx.session, tenant, conv, ctx.now, note.key, **note.params)

    def _write_reply(self, ctx: Context, reply: Reply, out: Outbound) -> None:
        channel = reply.channel or ctx.conversation.channel
        rendered = render(reply, reply.language or ctx.language, channel)
        texts = split_long(rendered.text) if channel == "sms" else [rendered.text]
        for index, text in enumerate(texts):
            last = index == len(texts) - 1
            self._write_part(ctx, reply, channel, Rendered(
                text, rendered.buttons if last else (), rendered.menu if last else {},
                rendered.location if last else None), out)

    def _write_part(self, ctx: Context, reply: Reply, channel: str, rendered: Rendered,
                    out: Outbound) -> None:
        conv = ctx.conversation
        payload: dict[str, Any] = {"text": rendered.text,
                                   "buttons": [[b.title, b.payload] for b in rendered.buttons],
                                   "location": list(rendered.location) if rendered.location else None}
        if reply.address is not None:
            payload["sensitive"] = True  # one-time codes: cleared from the outbox once sent
        if rendered.menu:
            conv.data = {**(conv.data or {}), "menu": rendered.menu}
        document_url = None
        if reply.document_id is not None:
            document = ctx.session.get(Document, reply.document_id)
            document_url = link(self.services.public_url, document) if document else None
        # Only the renter's own thread goes into the transcript (not codes sent elsewhere).
        out.add(tenant_id=ctx.tenant.id, conversation_id=conv.id, channel=channel,
                address=reply.address or conv.address, payload=payload, now=ctx.now,
                language=reply.language or ctx.language, transcript=reply.address is None,
                document_url=document_url)
