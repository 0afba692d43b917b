"""Per-conversation locks: Redis when configured, in-process otherwise, same interface."""

from __future__ import annotations

import threading
import uuid
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

    def lock_free(self, keys: list[str]) -> Any:
        """A context manager holding those of the named locks that are free now (no waiting).

        It yields the keys it holds; the others are held elsewhere.
        """
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

    @contextmanager
    def lock_free(self, keys: list[str]) -> Iterator[set[str]]:
        """Hold those of the named locks that are free now."""
        held: list[threading.Lock] = []
        names = set()
        with self._guard:
            for key in dict.fromkeys(keys):
                lk = self._locks.setdefault(key, threading.Lock())
                if lk.acquire(blocking=False):
                    held.append(lk)
                    names.add(key)
        try:
            yield names
        finally:
            for lk in held:
                lk.release()


class RedisLocks:
    """Locks shared by every web process and worker through Redis."""

    PREFIX = "crms:lock:"  # one key space for `lock` and `lock_free`: they exclude each other

    # redis-py's Lock token check, for many keys in one round trip
    RELEASE_MANY = ("local n = 0 for i, key in ipairs(KEYS) do "
                    "if redis.call('get', key) == ARGV[1] then "
                    "n = n + redis.call('del', key) end end return n")

    def __init__(self, client: Any, hold_seconds: float = 120.0) -> None:
        self._client = client
        self._hold = hold_seconds
        self._release_many = client.register_script(self.RELEASE_MANY)

    @contextmanager
    def lock(self, key: str, timeout: float = 30.0) -> Iterator[None]:
        """Hold the named lock; it expires by itself if the holder dies."""
        lk = self._client.lock(self.PREFIX + key, timeout=self._hold, blocking_timeout=timeout)
        if not lk.acquire():
            raise LockTimeout(key)
        try:
            yield
        finally:
            try:
                lk.release()
            except Exception:  # noqa: BLE001 - expired while held; nothing to release
                pass

    @contextmanager
    def lock_free(self, keys: list[str]) -> Iterator[set[str]]:
        """Hold those of the named locks that are free now.

        One round trip takes them all, one gives them back.
        """
        names = [self.PREFIX + key for key in dict.fromkeys(keys)]
        token = uuid.uuid4().hex.encode()
        pipe = self._client.pipeline(transaction=False)
        for name in names:
            pipe.set(name, token, nx=True, px=int(self._hold * 1000))
        taken = [name for name, ok in zip(names, pipe.execute(), strict=True) if ok]
        try:
            yield {name.removeprefix(self.PREFIX) for name in taken}
        finally:
            if taken:
                try:
                    self._release_many(keys=taken, args=[token])
                except Exception:  # noqa: BLE001 - they expire by themselves
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
