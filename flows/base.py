"""What a flow sees (Context, Turn) and the base class of every flow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.messages import FetchedMedia, Media, Reply
from bot.models import AuditLog, Booking, Conversation, Customer, Tenant

if TYPE_CHECKING:
    from bot.services.ports import Services


@dataclass(frozen=True)
class Turn:
    """One input to a flow: a renter's message, understood."""

    text: str
    intent: str
    confidence: float = 1.0
    entities: dict[str, Any] = field(default_factory=dict)
    language: str | None = None
    media: tuple[Media, ...] = ()
    attachments: tuple[FetchedMedia, ...] = ()  # photos and PDFs, downloaded


@dataclass
class StaffNote:
    """A message for the tenant's staff chat."""

    key: str
    params: dict[str, Any]


@dataclass
class Context:
    """Everything a flow may read or change in one step; all I/O goes through `services`."""

    session: Session
    tenant: Tenant
    conversation: Conversation
    services: "Services"
    now: datetime
    replies: list[Reply] = field(default_factory=list)
    staff_notes: list[StaffNote] = field(default_factory=list)
    resume_intent: str | None = None
    jobs: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)  # run after commit

    @property
    def language(self) -> str:
        """The conversation's language."""
        return self.conversation.language or self.tenant.default_language

    def say(self, key: str, buttons: tuple[tuple[str, str], ...] = (), **params: Any) -> None:
        """Append a reply to the renter."""
        self.replies.append(Reply(key, params, buttons=buttons))

    def send(self, reply: Reply) -> None:
        """Append a prepared reply (to another channel or address)."""
        self.replies.append(reply)

    def run_job(self, name: str, *args: Any) -> None:
        """Slow work (OCR) for the worker, queued once this turn is committed."""
        self.jobs.append((name, args))

    def notify_staff(self, key: str, **params: Any) -> None:
        """Queue a message for the tenant's staff chat."""
        self.staff_notes.append(StaffNote(key, {"conv": self.conversation.id,
                                                "channel": self.conversation.channel, **params}))

    def goto(self, flow: str, state: str, **data: Any) -> None:
        """Enter a flow's state, keeping the flow's data."""
        conv = self.conversation
        if conv.flow != flow:
            conv.data = {k: v for k, v in (conv.data or {}).items() if not k.startswith("f_")}
        conv.flow, conv.state = flow, state
        if data:
            conv.data = {**(conv.data or {}), **{f"f_{k}": v for k, v in data.items()}}

    def flow_data(self, name: str, default: Any = None) -> Any:
        """A value the active flow stored with `goto`."""
        return (self.conversation.data or {}).get(f"f_{name}", default)

    def finish(self) -> None:
        """Leave the active flow."""
        self.goto(None, None)  # type: ignore[arg-type]

    @property
    def customer(self) -> Customer | None:
        """The identified renter, scoped to this tenant."""
        cid = self.conversation.customer_id
        if cid is None:
            return None
        return self.session.scalar(select(Customer).where(
            Customer.id == cid, Customer.tenant_id == self.tenant.id))

    @property
    def booking(self) -> Booking | None:
        """The conversation's booking once the renter is verified, scoped to this tenant."""
        if not self.conversation.verified or self.conversation.booking_id is None:
            return None
        return self.session.scalar(select(Booking).where(
            Booking.id == self.conversation.booking_id, Booking.tenant_id == self.tenant.id))

    def audit(self, action: str, subject_type: str, subject_id: Any, **details: Any) -> None:
        """Write an audit-log entry in the same transaction."""
        self.session.add(AuditLog(tenant_id=self.tenant.id, actor=f"renter:conv:{self.conversation.id}",
                                  action=action, subject_type=subject_type,
                                  subject_id=str(subject_id), details=details, created_at=self.now))


class Flow:
    """A state machine: `start` on its intent, then `on_<state>` for each later turn.

    A state handler returns False when the turn is not for it (the engine then routes the
    turn by its intent and the flow stays where it was).
    """

    name: str = ""
    intents: tuple[str, ...] = ()
    needs_booking: bool = False

    def needs_booking_for(self, turn: Turn) -> bool:
        """Whether this turn needs the renter identified first."""
        return self.needs_booking

    def start(self, ctx: Context, turn: Turn) -> None:
        """Handle the intent that starts this flow."""
        raise NotImplementedError

    def step(self, ctx: Context, turn: Turn) -> bool:
        """Handle a turn in the flow's current state."""
        handler = getattr(self, f"on_{ctx.conversation.state}", None)
        if handler is None:
            ctx.finish()
            return False
        return bool(handler(ctx, turn))
