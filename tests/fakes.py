"""Fakes of the ports: a movable clock, fixed one-time codes, a recording channel."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from bot.channels.base import PermanentSendError, SendResult, TransientSendError
from bot.messages import FetchedMedia, OutboundMessage


class FakeClock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def advance(self, **kwargs: float) -> None:
        self._now += timedelta(**kwargs)

    def set(self, now: datetime) -> None:
        self._now = now


class FixedCodes:
    """One-time codes the test knows."""

    def __init__(self, code: str = "314159") -> None:
        self.code = code

    def new_code(self) -> str:
        return self.code


class RecordingChannel:
    """Records what was sent; can be scripted to fail."""

    provider = "fake"

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[OutboundMessage] = []
        self.failures: list[Exception] = []
        self.media: dict[str, tuple[str, bytes]] = {}  # url -> (content type, data)
        self.lock = threading.Lock()

    def fetch_media(self, url: str) -> FetchedMedia:
        """What the renter attached, when a test put it in `media`."""
        if url not in self.media:
            return FetchedMedia("", None, "not found")
        kind, data = self.media[url]
        return FetchedMedia(kind, data)

    def fail_next(self, times: int = 1, permanent: bool = False) -> None:
        error: Exception = PermanentSendError("number unreachable", code="21211") if permanent \
            else TransientSendError("503 from provider")
        self.failures.extend([error] * times)

    def send(self, message: OutboundMessage) -> SendResult:
        with self.lock:
            if self.failures:
                raise self.failures.pop(0)
            self.sent.append(message)
            return SendResult(f"FAKE{len(self.sent)}")

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.sent]


def run_jobs_inline(runtime):  # type: ignore[no-untyped-def]
    """Jobs a turn queues (OCR, payment links) run at once, in order (tests read replies next)."""
    import bot.jobs

    runtime.engine.run_job = lambda name, *args: getattr(bot.jobs, name)(*args, rt=runtime)
    return runtime
