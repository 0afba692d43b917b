"""Conversations with renters and the messages in them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.models.base import Base, EncryptedJSON, EncryptedText, utcnow


class Conversation(Base):
    """One renter on one channel with one tenant; holds the flow state."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("tenant_id", "channel", "address_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(EncryptedText)
    address_hash: Mapped[str] = mapped_column(String(64))
    # a renter's conversations (reminders, payment notices, erasure): not the tenant's all
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"))
    verified: Mapped[bool] = mapped_column(default=False)
    language: Mapped[str | None] = mapped_column(String(5))
    language_source: Mapped[str | None] = mapped_column(String(16))
    flow: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    staff_mode: Mapped[bool] = mapped_column(default=False)
    # the staff side: why and when it was escalated, who holds it, its topic in the staff group
    escalation_reason: Mapped[str | None] = mapped_column(String(32))
    escalated_at: Mapped[datetime | None]
    announced_at: Mapped[datetime | None]
    urgent: Mapped[bool] = mapped_column(default=False)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    staff_topic_id: Mapped[int | None] = mapped_column(index=True)
    fallback_count: Mapped[int] = mapped_column(default=0)
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_inbound_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """A message in or out; inbound ones are unique on channel + provider id."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "provider_message_id"),
        Index("ix_messages_pending", "conversation_id", "processed_at"),
        # inbound messages no worker answered yet (a worker died): found without a scan
        Index("ix_messages_unanswered", "created_at",
              sqlite_where=text("direction = 'in' AND processed_at IS NULL"),
              postgresql_where=text("direction = 'in' AND processed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    channel: Mapped[str] = mapped_column(String(16))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    body: Mapped[str | None] = mapped_column(EncryptedText)
    payload: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    intent: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(5))
    status: Mapped[str] = mapped_column(String(16), default="received")
    error_code: Mapped[str | None] = mapped_column(String(32))
    processed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
