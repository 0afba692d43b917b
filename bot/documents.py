"""Documents in chat: stored encrypted, served by short signed links that expire."""

from __future__ import annotations

import base64
import hmac
import struct
from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session

from bot import crypto
from bot.models import Document

LINK_TTL = timedelta(days=7)
MAC_BYTES = 10


def store(session: Session, tenant_id: int, filename: str, content_type: str, data: bytes,
          now: datetime, booking_id: int | None = None, ttl: timedelta = LINK_TTL) -> Document:
    """Keep a document for sending; its link works until `now + ttl`."""
    document = Document(tenant_id=tenant_id, booking_id=booking_id, filename=filename,
                        content_type=content_type, data=data, expires_at=now + ttl,
                        created_at=now)
    session.add(document)
    session.flush()
    return document


def token_for(document: Document) -> str:
    """A short token naming the document and its expiry, signed with the data key."""
    body = struct.pack(">IQ", document.id, int(document.expires_at.timestamp()))
    signed = body + crypto.mac(body)[:MAC_BYTES]
    return base64.urlsafe_b64encode(signed).decode().rstrip("=")


def read_token(token: str, now: datetime) -> tuple[int | None, str]:
    """The document id a token names, or None with the reason (invalid, expired)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None, "invalid"
    if len(raw) != 12 + MAC_BYTES or not hmac.compare_digest(
            raw[12:], crypto.mac(raw[:12])[:MAC_BYTES]):
        return None, "invalid"
    doc_id, expires = struct.unpack(">IQ", raw[:12])
    if datetime.fromtimestamp(expires, timezone.utc) <= now:
        return None, "expired"
    return doc_id, "ok"


def link(public_url: str, document: Document) -> str:
    """The document's public link, `/d/<token>`."""
    return f"{public_url.rstrip('/')}/d/{token_for(document)}"
