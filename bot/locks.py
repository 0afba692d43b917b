"""Per-conversation locks: Redis when configured, in-process otherwise, same interface."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class LockTimeout(Exception):
    """The lock could not be taken in time."""


class Locks(Protocol):
    """Gives named, exclusive locks.

    Args:
        key: the lock's name (``conv:42``).
        timeout: seconds to wait before LockTimeout.

    """

    def lock(self, key: str, timeout: float = 30.0) -> Any:
        """A context manager holding the named lock."""
        ...


class InProcessLocks:
    """Locks for the embedded mode (one process, threads)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def lock(self, key: str, timeout: float = 30.0) -> Iterator[None]:
        """Hold the named lock."""
        with self._guard:
            lk = self._locks.setdefault(key, threading.Lock())
        if not lk.acquire(timeout=timeout):
            raise LockTimeout(key)
        try:
            yield
        finally:
            lk.release()


class RedisLocks:
    """Locks shared by every web process and worker through Redis."""

    def __init__(self, client: Any, hold_seconds: float = 120.0) -> None:
        self._client = client
        self._hold = hold_seconds

    @contextmanager
    def lock(self, key: str, timeout: float = 30.0) -> Iterator[None]:
        """Hold the named lock; it expires by itself if the holder dies."""
        lk = self._client.lock(f"crms:lock:{key}", timeout=self._hold, blocking_timeout=timeout)
        if not lk.acquire():
            raise LockTimeout(key)
        try:
            yield
        finally:
            try:
                lk.release()
            except Exception:  # noqa: BLE001 - expired while held; nothing to release
                pass


class Leadership:
    """One leader among processes (the scheduler), through a Redis key with a time to live.

    The leader renews the key while it runs; if it dies the key expires and another process
    takes over. Renewal is a compare-and-expire in one Redis script, so a process whose key
    expired never extends someone else's.
    """

    RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
             "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end")

    def __init__(self, client: Any, name: str, me: str, ttl_seconds: float) -> None:
        self._client = client
        self._key = f"crms:leader:{name}"
        self._me = me
        self._ttl_ms = int(ttl_seconds * 1000)
        self._renew = client.register_script(self.RENEW)

    def lead(self) -> bool:
        """True while this process is the leader (taking the lead when it is free)."""
        if self._client.set(self._key, self._me, nx=True, px=self._ttl_ms):
            return True
        return bool(self._renew(keys=[self._key], args=[self._me, self._ttl_ms]))
