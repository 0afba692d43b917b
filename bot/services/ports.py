"""Ports (protocols) the flows and the engine use, and the bundle the app factory wires."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

from bot.breaker import Breakers
from bot.channels.base import ChannelAdapter
from bot.locks import InProcessLocks, Locks
from bot.services.payments import PaymentGateway, SandboxPayments
from nlu import BuiltinParser, NluResult


def _default_nlu_cache() -> "Path | None":
    cached = os.environ.get("CRMS_NLU_CACHE_DIR")
    return Path(cached) if cached else None


class NluClient(Protocol):
    """Understands a message.

    Args:
        text: the renter's message.
        today: the date relative dates resolve against.

    Returns:
        NluResult with intent, confidence, language and entities.

    """

    def parse(self, text: str, today: date | None = None) -> NluResult:
        """Understand one message."""
        ...


class Clock(Protocol):
    """Tells the time (tests and the sandbox move it)."""

    def now(self) -> datetime:
        """Aware UTC now."""
        ...


class SystemClock:
    """The real clock, shifted by an offset the sandbox clock control sets."""

    def __init__(self) -> None:
        self.offset_seconds = 0.0

    def now(self) -> datetime:
        """Aware UTC now plus the sandbox offset."""
        now = datetime.now(timezone.utc)
        return now + timedelta(seconds=self.offset_seconds) if self.offset_seconds else now


class CodeGenerator(Protocol):
    """Makes one-time codes."""

    def new_code(self) -> str:
        """A 6-digit code."""
        ...


class RandomCodes:
    """Cryptographically random 6-digit codes."""

    def new_code(self) -> str:
        """A 6-digit code."""
        return f"{secrets.randbelow(1_000_000):06d}"


@dataclass
class Services:
    """Everything the engine and flows reach outside themselves."""

    nlu: NluClient = field(default_factory=lambda: BuiltinParser.load(_default_nlu_cache()))
    clock: Clock = field(default_factory=SystemClock)
    codes: CodeGenerator = field(default_factory=RandomCodes)
    locks: Locks = field(default_factory=InProcessLocks)
    channels: dict[str, ChannelAdapter] = field(default_factory=dict)
    breakers: Breakers = field(default_factory=Breakers)
    payments: PaymentGateway = field(default_factory=lambda: SandboxPayments(
        "http://127.0.0.1:8000"))
    public_url: str = "http://127.0.0.1:8000"  # for signed links in messages
