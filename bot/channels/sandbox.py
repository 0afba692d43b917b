"""Sandbox channel: messages go to the sandbox page and the terminal instead of a provider."""

from __future__ import annotations

import threading
from collections import deque

from bot.channels.base import SendResult
from bot.messages import OutboundMessage


class SandboxAdapter:
    """Delivers instantly and keeps what it sent (the sandbox page reads the database)."""

    provider = "sandbox"

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: deque[OutboundMessage] = deque(maxlen=1000)
        self._lock = threading.Lock()

    def send(self, message: OutboundMessage) -> SendResult:
        """Record the message; idempotent on its key."""
        with self._lock:
            if not any(m.idempotency_key == message.idempotency_key for m in self.sent):
                self.sent.append(message)
        return SendResult(f"SBX{message.idempotency_key}", status="delivered")
