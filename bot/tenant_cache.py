"""Tenants kept in memory for a while: every message and every send reads its tenant.

A tenant changes rarely (numbers, templates, settings through `crms-bot company`). A copy is
kept for `ttl` seconds; a change committed in this process drops every copy at once, one made
by another process is seen within the ttl. The copies are detached and read-only.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import event
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

    def get(self, s: Session, tenant_id: int) -> Tenant | None:
        """The tenant, from memory when fresh, else read on the caller's connection."""
        entry = self._entries.get(tenant_id)
        now = time.monotonic()
        if entry is not None and entry[1] == _generation and now - entry[0] < self.ttl:
            return entry[2]
        generation = _generation
        with Session(bind=s.connection(), expire_on_commit=False) as side:
            tenant = side.get(Tenant, tenant_id)
        if tenant is not None:
            self._entries[tenant_id] = (now, generation, tenant)
        return tenant


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
