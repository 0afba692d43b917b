"""The normalised messages that flow between channels, engine and outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SHARE_CONTACT = "/share_contact"  # a button Telegram shows as "share my phone number"
READABLE_MEDIA = frozenset({"image/jpeg", "image/jpg", "image/png", "image/webp", "image/heic",
                            "image/heif", "application/pdf"})


class MsgKey(str):
    """A parameter that is itself a message key, translated when the reply is rendered."""


@dataclass(frozen=True)
class Media:
    """An attachment of an inbound message (fetched later by the channel adapter)."""

    url: str
    content_type: str

    @property
    def readable(self) -> bool:
        """A photo or PDF (what the licence flow can use)."""
        kind = self.content_type.split(";")[0].strip().lower()
        return kind in READABLE_MEDIA


@dataclass(frozen=True)
class Button:
    """A choice offered to the renter; `payload` comes back when it is picked."""

    title: str
    payload: str


@dataclass(frozen=True)
class InboundMessage:
    """A renter's message as any channel delivers it, keeping the provider's raw data."""

    channel: str  # whatsapp | sms | telegram | sandbox
    sender: str  # E.164 phone, or Telegram chat id
    text: str = ""
    provider_id: str = ""
    tenant_slug: str | None = None
    to: str | None = None  # the tenant's number the renter wrote to
    media: tuple[Media, ...] = ()
    language_hint: str | None = None
    contact: bool = False  # the text is the sender's own phone, vouched for by Telegram
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """A reply a flow wants to send: a message key, its parameters and choices."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)
    buttons: tuple[tuple[str, str], ...] = ()  # (label key, payload)
    location: tuple[float, float] | None = None
    channel: str | None = None  # send on another channel (OTP by SMS)
    address: str | None = None  # to another address than the conversation's
    language: str | None = None  # another reader's language (the booking's renter)
    document_id: int | None = None  # a stored document: media on WhatsApp, a link on SMS


@dataclass(frozen=True)
class OutboundMessage:
    """A rendered reply ready for a channel adapter."""

    channel: str
    address: str
    text: str
    buttons: tuple[Button, ...] = ()
    location: tuple[float, float] | None = None
    idempotency_key: str = ""
    tenant_id: int | None = None
    sender: str | None = None  # the tenant's number (E.164) the message goes out from
    template: tuple[str, dict[str, str]] | None = None  # (ContentSid, variables) for WhatsApp
    media_urls: tuple[str, ...] = ()
    files: tuple[tuple[str, str, bytes], ...] = ()  # (filename, type, data): uploaded (Telegram)
    # staff group only: the renter's topic (created under `topic_name` when there is none yet),
    # or a reaction on a staff member's message instead of text
    thread_id: int | None = None
    topic_name: str | None = None
    reaction: str | None = None
    react_to: int | None = None


@dataclass(frozen=True)
class FetchedMedia:
    """An attachment downloaded from the provider (None data when it was refused)."""

    content_type: str
    data: bytes | None
    problem: str | None = None
