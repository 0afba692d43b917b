"""WhatsApp's 24-hour customer-service window: free text inside it, approved templates outside."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.models import Conversation, Tenant

WINDOW = timedelta(hours=24)
OUTSIDE_WINDOW_ERROR = "63016"


def inside_window(conv: Conversation | None, now: datetime) -> bool:
    """Whether the renter wrote on WhatsApp within the last 24 hours."""
    last = conv.last_inbound_at if conv is not None else None
    return last is not None and now - last < WINDOW


def template_for(tenant: Tenant, payload: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    """The tenant's approved Content template for the message key in its language.

    Tenant setting ``whatsapp_templates``: ``{language: {message_key: {"content_sid": "HX…",
    "variables": ["when", "location", …]}}}``; variables are numbered in that order.
    """
    templates = tenant.setting("whatsapp_templates") or {}
    language = payload.get("language") or tenant.default_language
    entry = (templates.get(language) or {}).get(payload.get("key", ""))
    if not entry or not entry.get("content_sid"):
        return None
    params = payload.get("params") or {}
    variables = {str(i): str(params.get(name, "")) for i, name in
                 enumerate(entry.get("variables") or [], 1)}
    return entry["content_sid"], variables
