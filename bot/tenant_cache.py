"""Tenants kept in memory for a while: every message and every send reads its tenant.

A tenant changes rarely (numbers, templates, settings through `crms-bot company`). A copy is
kept for `ttl` seconds; a change committed in this process drops every copy at once, one made
by another process is seen within the ttl. The copies are detached and read-only. The same
holds for which tenant a webhook's number or slug belongs to.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.orm import Session, object_session

from bot.models import Tenant

_CHANGED = "crms_tenants_changed"
_generation = 0
_lock = threading.Lock()


class TenantCache:
    """Detached tenant copies by id, loaded through the caller's transaction."""

    def __init__(self, ttl: float = 30.0) -> None:
        self.ttl = ttl
        self._entries: dict[int, tuple[float, int, Tenant]] = {}
        self._ids: dict[str, tuple[float, int, int]] = {}

    def get(self, s: Session, tenant_id: int) -> Tenant | None:
        """The tenant, from memory when fresh, else read on the caller's connection."""
        return self._kept(self._entries, tenant_id, s.connection(),  # type: ignore[no-any-return]
                          lambda side: side.get(Tenant, tenant_id), keep=lambda tenant: tenant)

    def find(self, conn: Connection, key: str,
             lookup: Callable[[Session], Tenant | None]) -> int | None:
        """The id of the tenant `lookup` finds (by a number it owns, or its slug).

        `key` names what was looked up. An unknown key is not kept: a number just added is
        found at once.
        """
        return self._kept(self._ids, key, conn, lookup,  # type: ignore[no-any-return]
                          keep=lambda tenant: tenant.id)

    def _kept(self, entries: dict[Any, tuple[float, int, Any]], key: Any, conn: Connection,
              lookup: Callable[[Session], Tenant | None], keep: Callable[[Tenant], Any]) -> Any:
        entry = entries.get(key)
        now = time.monotonic()
        if entry is not None and entry[1] == _generation and now - entry[0] < self.ttl:
            return entry[2]
        generation = _generation
        with Session(bind=conn, expire_on_commit=False) as side:
            tenant = lookup(side)
            if tenant is None:
                return None
            value = keep(tenant)
        entries[key] = (now, generation, value)
        return value


@event.listens_for(Tenant, "after_insert")
@event.listens_for(Tenant, "after_update")
@event.listens_for(Tenant, "after_delete")
def _tenant_written(mapper: Any, connection: Any, target: Tenant) -> None:
    session = object_session(target)
    if session is not None:
        session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _forget_tenants(session: Session) -> None:
    global _generation
    if session.info.pop(_CHANGED, False):
        with _lock:
            _generation += 1
