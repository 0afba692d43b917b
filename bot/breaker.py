"""A circuit breaker per provider: stop hammering a provider that is down."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """Opens after consecutive failures, lets one try through after a pause."""

    def __init__(self, name: str, threshold: int = 5, reset_after: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.threshold = threshold
        self.reset_after = reset_after
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        """The state: closed, open or half_open."""
        if self._opened_at is None:
            return CLOSED
        return HALF_OPEN if self._clock() - self._opened_at >= self.reset_after else OPEN

    def allow(self) -> bool:
        """Whether a call may go to the provider now."""
        return self.state != OPEN

    def retry_in(self) -> float:
        """Seconds until the breaker lets a call through again."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.reset_after - (self._clock() - self._opened_at))

    def record_success(self) -> None:
        """A call went through: close."""
        with self._lock:
            self._failures = 0
            self._opened_at = None

    def record_failure(self) -> None:
        """A call failed: open after the threshold (or again at once when half open)."""
        with self._lock:
            self._failures += 1
            if self._failures >= self.threshold or self._opened_at is not None:
                self._opened_at = self._clock()


class Breakers:
    """One breaker per provider name."""

    def __init__(self, **kwargs: float) -> None:
        self._kwargs = kwargs
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, provider: str) -> CircuitBreaker:
        """The provider's breaker."""
        if provider not in self._breakers:
            self._breakers[provider] = CircuitBreaker(provider, **self._kwargs)  # type: ignore[arg-type]
        return self._breakers[provider]

    def states(self) -> dict[str, str]:
        """Each known provider's state."""
        return {name: b.state for name, b in self._breakers.items()}
