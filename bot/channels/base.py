"""What every channel adapter offers: capabilities and a send method."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.messages import OutboundMessage


@dataclass(frozen=True)
class Capabilities:
    """What a channel can show; the renderer degrades rich replies from these."""

    buttons: bool
    max_buttons: int = 0
    location: bool = False
    documents: bool = False
    max_length: int = 4096


CAPABILITIES = {
    "whatsapp": Capabilities(buttons=True, max_buttons=3, location=True, documents=True),
    "sms": Capabilities(buttons=False, location=False, documents=False, max_length=1600),
    "telegram": Capabilities(buttons=True, max_buttons=8, location=True, documents=True),
    "staff": Capabilities(buttons=True, max_buttons=8, documents=True),
    "sandbox": Capabilities(buttons=True, max_buttons=8, location=True, documents=True),
}
PROVIDER_OF = {"whatsapp": "twilio", "sms": "twilio", "telegram": "telegram", "staff": "telegram",
               "sandbox": "sandbox"}


@dataclass(frozen=True)
class SendResult:
    """The provider's id of a sent message and its first status."""

    provider_message_id: str
    status: str = "sent"
    thread_id: int | None = None  # the staff topic the message went to (created on first use)


class TransientSendError(Exception):
    """The provider failed in a way worth retrying (timeout, 5xx, 429).

    `retry_in`: the provider said when (Telegram's retry_after) or a rate limit will allow it;
    such a wait is not counted as a failed attempt.
    """

    def __init__(self, message: str, retry_in: float | None = None) -> None:
        super().__init__(message)
        self.retry_in = retry_in


class PermanentSendError(Exception):
    """The provider refused the message for good (invalid number, opted out)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class ChannelAdapter(Protocol):
    """Sends rendered messages through one provider.

    Args:
        message: the rendered message with its idempotency key.

    Returns:
        SendResult with the provider's message id.

    Raises:
        TransientSendError: worth retrying later.
        PermanentSendError: never retry.

    """

    name: str
    provider: str

    def send(self, message: OutboundMessage) -> SendResult:
        """Send one message."""
        ...
