"""A conversation as a test reads it: `chat.say("Grüezi")` returns the bot's replies."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from bot.messages import InboundMessage, Media
from bot.models import Conversation, Message, OutboxItem
from bot.runtime import Runtime


class Chat:
    """One renter on one channel with one tenant, through the real engine."""

    def __init__(self, runtime: Runtime, channel: str, sender: str, tenant: str) -> None:
        self.runtime = runtime
        self.channel = channel
        self.sender = sender
        self.tenant = tenant
        self.conversation_id: int | None = None
        self._seen_messages = 0
        self._seen_outbox = 0

    def send(self, text: str = "", provider_id: str | None = None,
             media: tuple[Media, ...] = ()) -> None:
        """Deliver a renter's message without reading the replies."""
        receipt = self.runtime.engine.handle(InboundMessage(
            channel=self.channel, sender=self.sender, text=text, tenant_slug=self.tenant,
            provider_id=provider_id or f"test-{uuid.uuid4().hex}", media=media))
        self.conversation_id = receipt.conversation_id

    def say(self, text: str = "", **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
        """Send a message; return the texts of the bot's new replies in this conversation."""
        self.send(text, **kwargs)
        return [m.body for m in self.new_replies()]

    def new_replies(self) -> list[Message]:
        with self.runtime.db.session() as s:
            rows = list(s.scalars(select(Message).where(
                Message.conversation_id == self.conversation_id, Message.direction == "out",
                Message.id > self._seen_messages).order_by(Message.id)))
        if rows:
            self._seen_messages = rows[-1].id
        return rows

    def outbox(self) -> list[OutboxItem]:
        """New outbox rows of this conversation (staff notes, codes by SMS included)."""
        with self.runtime.db.session() as s:
            rows = list(s.scalars(select(OutboxItem).where(
                OutboxItem.conversation_id == self.conversation_id,
                OutboxItem.id > self._seen_outbox).order_by(OutboxItem.id)))
        if rows:
            self._seen_outbox = rows[-1].id
        return rows

    def staff_texts(self) -> list[str]:
        return [r.payload["text"] for r in self.outbox() if r.channel == "staff"]

    @property
    def conversation(self) -> Conversation:
        with self.runtime.db.session() as s:
            conv = s.get(Conversation, self.conversation_id)
            assert conv is not None
            return conv
