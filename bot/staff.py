"""The staff desk: escalations, the summary staff read, the relay both ways, staff commands.

Each escalated renter gets a topic in the tenant's staff group (created by the delivery
worker on the first staff message of the conversation). What staff write in the topic goes
to the renter on the renter's own channel through the outbox; commands change the
conversation. Everything here runs in the caller's transaction and sends only by outbox rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.i18n import format_money, format_when, translate
from bot.messages import MsgKey, Reply
from bot.models import (
    AuditLog,
    Booking,
    Conversation,
    Customer,
    LicenceCheck,
    Message,
    OutboxItem,
    Payment,
    Tenant,
)
from bot.outbox import enqueue
from bot.rendering import render

log = logging.getLogger(__name__)
LANGUAGES = ("de", "fr", "it", "en")
LAST_MESSAGES = 6
REANNOUNCE_MINUTES = 10
# What a renter's message status looks like on the staff member's own message.
REACTIONS = {"sent": "👌", "delivered": "👍", "read": "👀"}
NOT_DELIVERED = frozenset({"failed", "undelivered", "blocked"})


def staff_address(tenant: Tenant) -> str:
    """Where staff messages go: the staff group's chat id, or the tenant's sandbox desk."""
    return tenant.staff_chat_id or f"staff:{tenant.slug}"


def topic_name(conv: Conversation, booking: Booking | None, customer: Customer | None) -> str:
    """The staff topic's title: booking, renter, channel (Telegram allows 128 characters)."""
    ref = booking.ref if booking is not None else f"#{conv.id}"
    name = (customer.name if customer is not None and customer.name else None) or "?"
    return f"{ref} · {name} · {conv.channel}"[:128]


def post(session: Session, tenant: Tenant, conversation: Conversation | None, now: datetime,
         key: str, **params: Any) -> int:
    """A message into the conversation's staff topic, in the tenant's language (outbox id).

    Without a conversation it goes to the staff group itself.
    """
    params = {"conv": conversation.id if conversation else "-",
              "channel": conversation.channel if conversation else "-", **params}
    text = render(Reply(key, params), tenant.default_language, "staff").text
    return post_text(session, tenant, conversation, now, text)


def post_text(session: Session, tenant: Tenant, conv: Conversation | None, now: datetime,
              text: str, **extra: Any) -> int:
    """Text (or a reaction, with `extra`) into the staff group, in the conversation's topic."""
    payload: dict[str, Any] = {"text": text, **extra}
    if conv is not None:
        payload["topic_name"] = _topic_name(session, conv)
    return enqueue(session, tenant_id=tenant.id, conversation_id=conv.id if conv else None,
                   channel="staff", address=staff_address(tenant), payload=payload, now=now,
                   transcript=False)


def _topic_name(session: Session, conv: Conversation) -> str:
    booking = session.get(Booking, conv.booking_id) if conv.booking_id else None
    customer = session.get(Customer, conv.customer_id) if conv.customer_id else None
    return topic_name(conv, booking, customer)


def summary(session: Session, tenant: Tenant, conv: Conversation, reason: str,
            now: datetime) -> dict[str, Any]:
    """What staff need at a glance: why, the booking, licence and payment, the last messages."""
    language = tenant.default_language
    booking = session.get(Booking, conv.booking_id) if conv.booking_id else None
    rows = list(session.scalars(select(Message).where(Message.conversation_id == conv.id)
                                .order_by(Message.id.desc()).limit(LAST_MESSAGES)))
    last = "\n".join(f"{'👤' if m.direction == 'in' else '🤖'} {(m.body or '-')[:200]}"
                     for m in reversed(rows)) or "-"
    params: dict[str, Any] = {"reason": MsgKey(f"reason.{reason}"), "last": last,
                              "booking": "-", "licence": MsgKey("staff.state.none"),
                              "payment": MsgKey("staff.state.none"),
                              "claim": "🚨" if conv.urgent else "🔔"}
    if booking is not None:
        params["booking"] = booking_line(booking, language)
        check = session.scalar(select(LicenceCheck).where(LicenceCheck.booking_id == booking.id)
                               .order_by(LicenceCheck.id.desc()).limit(1))
        if check is not None:
            params["licence"] = f"#{check.id} {check.status}"
        payments = list(session.scalars(select(Payment).where(Payment.booking_id == booking.id)
                                        .order_by(Payment.id)))
        if payments:
            params["payment"] = ", ".join(
                f"{p.kind} {format_money(p.amount_chf, language)} {p.method} {p.status}"
                for p in payments)
        elif booking.amount_due_chf:
            params["payment"] = f"{format_money(booking.amount_due_chf, language)} open"
    return params


def booking_line(booking: Booking, language: str) -> str:
    """One line about a booking for staff."""
    vehicle = booking.vehicle
    car = f"{vehicle.model or ''} {vehicle.plate}".strip() if vehicle is not None else "-"
    name = booking.customer.name if booking.customer is not None else "?"
    return (f"{booking.ref} · {name} · {format_when(booking.pickup_at, language)} → "
            f"{format_when(booking.return_at, language)} · {car} · {booking.status}")


def escalate(session: Session, tenant: Tenant, conv: Conversation, now: datetime, reason: str,
             *, urgent: bool = False, hold: bool = True) -> None:
    """Hand the conversation to staff and post the summary in its topic.

    Already with staff: the new reason is posted again (an accident while waiting matters).
    With `hold` False staff are alerted but the bot keeps answering until one of them
    replies in the topic (the identification lock: the renter may simply retry later).
    """
    fresh = not conv.staff_mode
    conv.staff_mode = conv.staff_mode or hold
    conv.fallback_count = 0
    conv.urgent = urgent or (conv.urgent and not fresh)
    if fresh:
        conv.escalated_at, conv.claimed_by = now, None
    conv.escalation_reason = reason
    conv.announced_at = now
    params = summary(session, tenant, conv, reason, now)
    post(session, tenant, conv, now, "staff.summary", **params)
    session.add(AuditLog(tenant_id=tenant.id, actor=f"renter:conv:{conv.id}",
                         action="conversation.escalated", subject_type="conversation",
                         subject_id=str(conv.id), details={"reason": reason, "urgent": urgent},
                         created_at=now))


def reannounce(session: Session, now: datetime) -> int:
    """Post again the escalations nobody claimed within the tenant's minutes."""
    count = 0
    waiting = session.scalars(select(Conversation).where(
        Conversation.staff_mode.is_(True), Conversation.claimed_by.is_(None),
        Conversation.announced_at.is_not(None)))
    for conv in waiting:
        tenant = session.get(Tenant, conv.tenant_id)
        assert tenant is not None
        minutes = float(tenant.setting("staff_reannounce_minutes") or REANNOUNCE_MINUTES)
        assert conv.announced_at is not None
        if now - conv.announced_at < timedelta(minutes=minutes):
            continue
        conv.announced_at = now
        waited = int((now - (conv.escalated_at or now)).total_seconds() // 60)
        post(session, tenant, conv, now, "staff.reannounce", minutes=waited,
             reason=MsgKey(f"reason.{conv.escalation_reason or 'asked'}"),
             icon="🚨" if conv.urgent else "⏰")
        count += 1
    return count


def echo_status(session: Session, message: Message, status: str, now: datetime,
                code: str | None = None) -> None:
    """Show a staff reply's delivery on the staff member's message (a reaction, or a warning)."""
    origin = (message.payload or {}).get("staff_message_id")
    if origin is None:
        return
    conv = session.get(Conversation, message.conversation_id)
    tenant = session.get(Tenant, message.tenant_id)
    if conv is None or tenant is None:
        return
    if status in NOT_DELIVERED:
        post(session, tenant, conv, now, "staff.not_delivered",
             status=status, code=code or "-", text=(message.body or "")[:200])
    elif status in REACTIONS:
        post_text(session, tenant, conv, now, "", reaction=REACTIONS[status],
                  react_to=origin)


def act(db: Any, now: datetime, given: StaffInput, event: tuple[str, str] | None = None,
        run_job: Callable[..., None] | None = None) -> str:
    """Apply a staff message in its own transaction; `event` (source, id) makes it count once.

    Slow work a command starts (capturing a deposit at Stripe) goes to `run_job` once the
    transaction is committed.
    """
    from sqlalchemy.exc import IntegrityError

    from bot.models import ProcessedEvent

    try:
        with db.session() as s:
            if event is not None:
                s.add(ProcessedEvent(source=event[0], event_id=event[1]))
                s.flush()
            tenant = s.get(Tenant, given.tenant_id)
            if tenant is None:
                return "ignored"
            desk = StaffDesk(s, tenant, now)
            done = desk.handle(given)
    except IntegrityError:
        return "duplicate"
    for name, args in desk.jobs:
        if run_job is None:
            raise RuntimeError(f"staff command queued {name} but no job runner was given")
        run_job(name, *args)
    return done


@dataclass(frozen=True)
class StaffInput:
    """A staff member's message, from the Telegram staff group or the sandbox desk."""

    tenant_id: int
    text: str
    author: str
    conversation_id: int | None = None  # the sandbox desk names it
    topic_id: int | None = None  # Telegram: the forum topic it was written in
    reply_to: str | None = None  # Telegram: the bot message it answers (groups without topics)
    message_id: int | None = None  # Telegram: the staff message, for delivery reactions


class StaffDesk:
    """Applies staff messages and commands to the tenant's conversations."""

    def __init__(self, session: Session, tenant: Tenant, now: datetime) -> None:
        self.session = session
        self.tenant = tenant
        self.now = now
        self.jobs: list[tuple[str, tuple[Any, ...]]] = []  # run after commit

    def conversation_for(self, given: StaffInput) -> Conversation | None:
        """The renter's conversation the message is about, only ever of this tenant."""
        query = select(Conversation).where(Conversation.tenant_id == self.tenant.id)
        if given.conversation_id is not None:
            return self.session.scalar(query.where(Conversation.id == given.conversation_id))
        if given.topic_id is not None:
            found = self.session.scalar(query.where(Conversation.staff_topic_id == given.topic_id))
            if found is not None:
                return found
        if given.reply_to is not None:
            conv_id = self.session.scalar(select(OutboxItem.conversation_id).where(
                OutboxItem.tenant_id == self.tenant.id, OutboxItem.channel == "staff",
                OutboxItem.provider_message_id == given.reply_to))
            if conv_id is not None:
                return self.session.scalar(query.where(Conversation.id == conv_id))
        return None

    def handle(self, given: StaffInput) -> str:
        """Apply one staff message; returns what was done (for logs and the sandbox)."""
        text = given.text.strip()
        conv = self.conversation_for(given)
        if conv is None:
            if text.startswith("/"):
                self._help(None)
                return "help"
            log.info("staff message outside any renter topic ignored")
            return "ignored"
        if not text:
            return "ignored"
        if not text.startswith("/"):
            return self._reply(conv, given, text)
        command, _, rest = text[1:].partition(" ")
        command = command.split("@", 1)[0].lower()  # /close@AlpenRentBot
        handler = {"claim": self._claim, "close": self._close, "note": self._note,
                   "lang": self._lang, "booking": self._booking,
                   "licence": self._licence, "license": self._licence,
                   "deposit": self._deposit, "returned": self._returned}.get(command)
        if handler is None:
            self._help(conv)
            return "help"
        return handler(conv, given, rest.strip())

    def _help(self, conv: Conversation | None) -> None:
        """The list of staff commands, in the topic (or the group)."""
        post_text(self.session, self.tenant, conv, self.now,
                  translate("staff.help", self.tenant.default_language))

    def _audit(self, conv: Conversation, given: StaffInput, action: str, **details: Any) -> None:
        self.session.add(AuditLog(tenant_id=self.tenant.id, actor=f"staff:{given.author}"[:100],
                                  action=action, subject_type="conversation",
                                  subject_id=str(conv.id), details=details, created_at=self.now))

    def _say(self, conv: Conversation, key: str, **params: Any) -> None:
        """A message to the renter, in the renter's language, on the renter's channel."""
        language = conv.language or self.tenant.default_language
        rendered = render(Reply(key, params), language, conv.channel)
        enqueue(self.session, tenant_id=self.tenant.id, conversation_id=conv.id,
                channel=conv.channel, address=conv.address, payload={"text": rendered.text},
                now=self.now, language=language)

    def _reply(self, conv: Conversation, given: StaffInput, text: str) -> str:
        if not conv.staff_mode or conv.claimed_by is None:  # answering takes the conversation
            conv.staff_mode, conv.claimed_by = True, given.author
        payload: dict[str, Any] = {"text": text[:4000], "staff_author": given.author}
        if given.message_id is not None:
            payload["staff_message_id"] = given.message_id
        enqueue(self.session, tenant_id=self.tenant.id, conversation_id=conv.id,
                channel=conv.channel, address=conv.address, payload=payload, now=self.now,
                language=conv.language)
        self._audit(conv, given, "staff.reply")
        return "relayed"

    def _claim(self, conv: Conversation, given: StaffInput, _: str) -> str:
        conv.staff_mode, conv.claimed_by = True, given.author
        post(self.session, self.tenant, conv, self.now, "staff.claimed", name=given.author)
        self._audit(conv, given, "staff.claim")
        return "claimed"

    def _close(self, conv: Conversation, given: StaffInput, _: str) -> str:
        conv.staff_mode, conv.claimed_by, conv.urgent = False, None, False
        conv.escalated_at = conv.announced_at = None
        conv.fallback_count = 0
        self._say(conv, "agent.closed")
        post(self.session, self.tenant, conv, self.now, "staff.closed", name=given.author)
        self._audit(conv, given, "staff.close")
        return "closed"

    def _note(self, conv: Conversation, given: StaffInput, rest: str) -> str:
        if not rest:
            self._help(conv)
            return "help"
        notes = list((conv.data or {}).get("staff_notes", []))[-49:]
        notes.append({"by": given.author, "at": self.now.isoformat(), "text": rest[:1000]})
        conv.data = {**(conv.data or {}), "staff_notes": notes}
        post(self.session, self.tenant, conv, self.now, "staff.noted", name=given.author)
        self._audit(conv, given, "staff.note")
        return "noted"

    def _lang(self, conv: Conversation, given: StaffInput, rest: str) -> str:
        language = rest.lower()[:2]
        if language not in LANGUAGES:
            self._help(conv)
            return "help"
        conv.language, conv.language_source = language, "staff"
        post(self.session, self.tenant, conv, self.now, "staff.language_set", lang=language)
        self._audit(conv, given, "staff.language", language=language)
        return "language"

    def _booking(self, conv: Conversation, given: StaffInput, _: str) -> str:
        params = summary(self.session, self.tenant, conv, conv.escalation_reason or "asked",
                         self.now)
        post(self.session, self.tenant, conv, self.now, "staff.booking", **params)
        return "booking"

    def _licence(self, conv: Conversation, given: StaffInput, rest: str) -> str:
        decision, _, reason = rest.partition(" ")
        decision = decision.lower()
        if decision not in ("approve", "reject") or (decision == "reject" and not reason.strip()):
            self._help(conv)
            return "help"
        check = None
        if conv.booking_id is not None:
            check = self.session.scalar(select(LicenceCheck).where(
                LicenceCheck.tenant_id == self.tenant.id,
                LicenceCheck.booking_id == conv.booking_id).order_by(LicenceCheck.id.desc()))
        if check is None:
            post(self.session, self.tenant, conv, self.now, "staff.no_licence")
            return "no licence"
        check.status = "approved" if decision == "approve" else "rejected"
        check.decided_at = self.now
        if decision == "reject":
            check.problems = [*(check.problems or []), f"staff: {reason.strip()[:300]}"]
            self._say(conv, "licence.rejected", reason=reason.strip()[:300])
        else:
            self._say(conv, "licence.approved")
        post(self.session, self.tenant, conv, self.now, "staff.licence_done", check=check.id,
             decision=check.status, name=given.author)
        self._audit(conv, given, f"licence.{check.status}", check=check.id)
        return check.status

    def _deposit(self, conv: Conversation, given: StaffInput, rest: str) -> str:
        """/deposit shows the hold; /deposit release; /deposit capture [CHF] (all without one)."""
        action, _, amount_text = rest.partition(" ")
        action = action.lower()
        payment = self._hold(conv)
        if payment is None or not action:
            return self._show_hold(conv, payment)
        amount: Decimal | None = None
        if action == "capture" and amount_text.strip():
            try:
                amount = Decimal(amount_text.strip().replace("’", "").replace("'", ""))
            except ArithmeticError:
                amount = Decimal(-1)
            if amount <= 0 or amount > Decimal(payment.amount_chf):
                post(self.session, self.tenant, conv, self.now, "staff.deposit_amount",
                     amount=Decimal(payment.amount_chf))
                return "help"
        if action not in ("release", "capture"):
            self._help(conv)
            return "help"
        if payment.status != "authorised":
            return self._show_hold(conv, payment)
        payment.status = "capturing" if action == "capture" else "releasing"
        self.jobs.append(("settle_deposit", (payment.id, action,
                                             str(amount) if amount is not None else None,
                                             given.author)))
        self._audit(conv, given, f"deposit.{action}_requested", payment=payment.id)
        return f"deposit {action}"

    def _show_hold(self, conv: Conversation, payment: Payment | None) -> str:
        """The deposit hold's amount and state in the topic."""
        post(self.session, self.tenant, conv, self.now, "staff.deposit_state",
             ref=self._ref(conv), amount=Decimal(payment.amount_chf) if payment else Decimal(0),
             state=MsgKey(f"deposit.state.{payment.status if payment else 'none'}"))
        return "deposit"

    def _returned(self, conv: Conversation, given: StaffInput, _: str) -> str:
        """/returned: the car came back without damage, so the deposit is released."""
        return self._deposit(conv, given, "release")

    def _hold(self, conv: Conversation) -> Payment | None:
        if conv.booking_id is None:
            return None
        return self.session.scalar(select(Payment).where(
            Payment.tenant_id == self.tenant.id, Payment.booking_id == conv.booking_id,
            Payment.kind == "deposit", Payment.status.in_(
                ("authorised", "capturing", "releasing", "captured", "released", "lapsed")))
            .order_by(Payment.id.desc()).limit(1))

    def _ref(self, conv: Conversation) -> str:
        booking = self.session.get(Booking, conv.booking_id) if conv.booking_id else None
        return booking.ref if booking else "-"
