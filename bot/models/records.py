"""Reminders, payments, licence checks and the audit log."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.models.base import Base, EncryptedBytes, EncryptedText, utcnow


class Reminder(Base):
    """A planned reminder of a booking; unique per booking and kind so it fires once."""

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("booking_id", "kind"),
        Index("ix_reminders_due", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"))
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime]
    event_at: Mapped[datetime | None]  # the pickup or return it was planned for
    state: Mapped[str] = mapped_column(String(12), default="planned")
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payment(Base):
    """A payment of a booking: Stripe link, deposit hold or QR-bill.

    status: creating (row committed, provider not yet asked) -> open (link sent) -> paid |
    failed | expired | error; a deposit goes open -> authorised -> captured | released, and
    an authorisation that lapses (about 7 days) becomes `lapsed`. Refunds and disputes keep
    the status and are recorded in `refunded_chf` and `disputed_at`.
    """

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="rental")  # rental | deposit
    method: Mapped[str] = mapped_column(String(16))  # stripe | qrbill
    amount_chf: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    status: Mapped[str] = mapped_column(String(20), default="open")
    provider_ref: Mapped[str | None] = mapped_column(String(128), index=True)
    reference: Mapped[str | None] = mapped_column(String(40), index=True)
    url: Mapped[str | None] = mapped_column(String(500))
    expires_at: Mapped[datetime | None]
    intent_ref: Mapped[str | None] = mapped_column(String(128), index=True)  # payment intent
    account: Mapped[str | None] = mapped_column(String(64))  # the tenant's Stripe account
    paid_with: Mapped[str | None] = mapped_column(String(16))  # card | twint | qrbill
    hold_until: Mapped[datetime | None]  # a deposit authorisation lapses then
    captured_chf: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    refunded_chf: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    disputed_at: Mapped[datetime | None]
    warned_at: Mapped[datetime | None]  # staff warned that the hold lapses soon
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)  # set with the service clock


class LicenceCheck(Base):
    """A driving licence read from a photo and checked against a booking."""

    __tablename__ = "licence_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    # the bookings' checks (due reminders ask), the renter's (erasure)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="received")
    image: Mapped[bytes | None] = mapped_column(EncryptedBytes)
    content_type: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # not personal: kinds only
    reading: Mapped[str | None] = mapped_column(EncryptedText)  # what OCR read, JSON, encrypted
    problems: Mapped[list[str]] = mapped_column(JSON, default=list)
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditLog(Base):
    """Who did what to which record; never holds personal data itself."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Document(Base):
    """A document sent in chat (QR-bill PDF), served by a signed, expiring link."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"))
    filename: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(EncryptedBytes)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessedEvent(Base):
    """A provider event handled once (staff updates from Telegram, Stripe events).

    A Stripe event about a payment row not committed yet waits here (`state` waiting, with
    its payload) and is applied when the row appears.
    """

    __tablename__ = "processed_events"
    __table_args__ = (UniqueConstraint("source", "event_id"),
                      Index("ix_processed_events_waiting", "state"))

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(12), default="done", server_default="done")
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
