"""Delivery statuses of sent messages: ranked, so late or repeated callbacks never go back."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Message

RANK = {"received": 0, "processed": 0, "queued": 1, "accepted": 1, "scheduled": 1,
        "sending": 2, "sent": 3, "delivered": 4, "read": 5, "undelivered": 6, "failed": 6,
        "canceled": 6, "blocked": 6}
FAILED = frozenset({"undelivered", "failed"})


def advance(message: Message, status: str, error_code: str | None = None) -> bool:
    """Move a message's status forward only; returns whether it changed."""
    if RANK.get(status, -1) <= RANK.get(message.status, -1):
        return False
    message.status = status
    if error_code:
        message.error_code = error_code
    return True


def record_callback(session: Session, channels: tuple[str, ...], provider_id: str, status: str,
                    error_code: str | None) -> tuple[Message | None, bool]:
    """Apply a provider's status callback: the message it names and whether it moved.

    `channels`: the provider's (Twilio: WhatsApp and SMS). The message is found through the
    unique index on (channel, provider id), one probe a channel: without the channel that
    index is scanned whole, every callback, and there are several for every reply.
    """
    message = session.scalar(select(Message).where(
        Message.channel.in_(channels), Message.provider_message_id == provider_id,
        Message.direction == "out"))
    if message is None:
        return None, False
    return message, advance(message, status, error_code)
