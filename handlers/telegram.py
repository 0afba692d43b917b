"""Telegram webhook: check the tenant's secret token, parse the update, record, enqueue, 200.

Telegram re-sends updates it thinks were slow: the update id makes each one count once.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request
from pydantic import ValidationError

from bot import metrics
from bot.messages import InboundMessage, Media
from bot.repository import tenant_by_slug

log = logging.getLogger(__name__)
bp = Blueprint("telegram", __name__, url_prefix="/webhooks/telegram")


@bp.post("/<slug>")
def update(slug: str):  # type: ignore[no-untyped-def]
    """One Telegram update for the tenant's bot."""
    runtime = current_app.extensions["crms"]
    with runtime.db.session() as s:
        tenant = tenant_by_slug(s, slug)
        secret = tenant.telegram_webhook_secret if tenant else None
        tenant_id = tenant.id if tenant else 0
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        metrics.WEBHOOKS_REJECTED.labels("telegram", "secret").inc()
        abort(403, description="wrong or missing secret token")
    from aiogram.types import Update  # imported on the first update: aiogram is slow to load

    try:
        parsed = Update.model_validate(request.get_json(force=True, silent=False))
    except (ValidationError, ValueError, TypeError):
        metrics.WEBHOOKS_REJECTED.labels("telegram", "malformed").inc()
        abort(400, description="not a Telegram update")
    inbound = to_inbound(slug, tenant_id, parsed)
    if inbound is None:
        log.info("telegram update %s of type %s ignored", parsed.update_id, parsed.event_type)
        return jsonify(ok=True)
    receipt = runtime.engine.receive(inbound)
    if not receipt.duplicate:
        runtime.work.enqueue_conversation(receipt.conversation_id)
    return jsonify(ok=True)


def to_inbound(slug: str, tenant_id: int, parsed: Any) -> InboundMessage | None:
    """The renter's message in an update (a message or a button press), or None.

    Files are named `tg-file:<tenant id>:<file id>`: the tenant's bot fetches them later.
    """
    provider_id = f"{slug}:{parsed.update_id}"
    query = parsed.callback_query
    if query is not None and query.message is not None:
        chat = query.message.chat
        return InboundMessage(channel="telegram", sender=str(chat.id),
                              text=query.data or "", provider_id=provider_id, tenant_slug=slug,
                              language_hint=query.from_user.language_code,
                              raw={"callback_query_id": query.id})
    message = parsed.message
    if message is None or message.chat.type != "private":
        return None
    media: tuple[Media, ...] = ()
    if message.photo:
        largest = max(message.photo, key=lambda p: p.width * p.height)
        media = (Media(f"tg-file:{tenant_id}:{largest.file_id}", "image/jpeg"),)
    elif message.document is not None:
        media = (Media(f"tg-file:{tenant_id}:{message.document.file_id}",
                       message.document.mime_type or "application/octet-stream"),)
    elif message.voice or message.video or message.location or message.sticker:
        media = (Media("", "unsupported"),)
    text = message.text or message.caption or ""
    if message.contact is not None and message.contact.user_id == (
            message.from_user.id if message.from_user else None):
        text = message.contact.phone_number
    return InboundMessage(channel="telegram", sender=str(message.chat.id), text=text,
                          provider_id=provider_id, tenant_slug=slug, media=media,
                          language_hint=message.from_user.language_code if message.from_user
                          else None)
