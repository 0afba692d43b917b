"""Messages the bot starts itself: reminders, payment confirmations.

They go to the renter's most recent conversation with the tenant, in its language, through
the outbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.messages import Reply
from bot.models import Conversation, Customer, Tenant
from bot.outbox import enqueue
from bot.rendering import render, render_params
from bot.repository import conversations_of_customer


def renter_conversation(session: Session, tenant: Tenant, customer: Customer,
                        convs: list[Conversation] | None = None,
                        ) -> tuple[Conversation | None, bool]:
    """The conversation to write in, and whether the renter may be written to at all.

    convs: the renter's conversations when the caller loaded them already (a batch).
    """
    if convs is None:
        convs = conversations_of_customer(session, tenant.id, customer.id)
    if customer.opted_out or customer.erased_at is not None:
        return None, False
    conv = next((c for c in convs if not (c.data or {}).get("opted_out")), None)
    return conv, conv is not None or (not convs and bool(customer.phone))


def send_to_renter(session: Session, tenant: Tenant, customer: Customer, key: str,
                   params: dict[str, Any], now: datetime, document_url: str | None = None,
                   convs: list[Conversation] | None = None, **extra: Any) -> bool:
    """Write a message for the renter to the outbox; by SMS when they never wrote to us."""
    conv, allowed = renter_conversation(session, tenant, customer, convs)
    if not allowed:
        return False
    channel = conv.channel if conv else "sms"
    language = (conv.language if conv else None) or customer.language or tenant.default_language
    rendered = render(Reply(key, params), language, channel)
    # key, params and language let the relay pick a WhatsApp template outside the 24 h window
    payload: dict[str, Any] = {
        "text": rendered.text, "buttons": [], "location": None, "initiated": True, "key": key,
        "params": {k: str(v) for k, v in render_params(params, language).items()},
        "language": language, **extra}
    enqueue(session, tenant_id=tenant.id, conversation_id=conv.id if conv else None,
            channel=channel, address=conv.address if conv else customer.phone or "",
            payload=payload, now=now, language=language, document_url=document_url)
    return True
