"""Sandbox channel: messages go to the sandbox page and the terminal instead of a provider."""

from __future__ import annotations

import threading
from collections import deque

from bot.channels.base import SendResult
from bot.messages import FetchedMedia, OutboundMessage

MEDIA_PREFIX = "sandbox://media/"
MAX_MEDIA_BYTES = 10 * 1024 * 1024


class SandboxAdapter:
    """Delivers instantly and keeps what it sent (the sandbox page reads the database)."""

    provider = "sandbox"

    # What renters upload on the sandbox page, kept in this process (the sandbox runs
    # embedded): the latest few, so a long demo does not grow without end.
    uploads: dict[str, tuple[str, bytes]] = {}
    KEPT_UPLOADS = 20

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: deque[OutboundMessage] = deque(maxlen=1000)
        self._lock = threading.Lock()

    @classmethod
    def keep_upload(cls, content_type: str, data: bytes) -> str:
        """Keep a file a renter sent on the sandbox page; returns its media URL."""
        import secrets

        url = f"{MEDIA_PREFIX}{secrets.token_hex(12)}"
        cls.uploads[url] = (content_type, data)
        for old in list(cls.uploads)[:-cls.KEPT_UPLOADS]:  # oldest first (insertion order)
            cls.uploads.pop(old, None)
        return url

    def fetch_media(self, url: str) -> FetchedMedia:
        """A file uploaded on the sandbox page (as a provider's media download)."""
        found = self.uploads.get(url)
        if found is None:
            return FetchedMedia("", None, "the upload is no longer there: send it again")
        return FetchedMedia(found[0], found[1])

    def send(self, message: OutboundMessage) -> SendResult:
        """Record the message; idempotent on its key."""
        with self._lock:
            if not any(m.idempotency_key == message.idempotency_key for m in self.sent):
                self.sent.append(message)
        return SendResult(f"SBX{message.idempotency_key}", status="delivered")
