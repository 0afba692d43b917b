"""Telegram webhook: check the tenant's secret token, parse the update, hand it on, 200."""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, abort, current_app, jsonify, request
from pydantic import ValidationError

from bot import metrics
from bot.repository import tenant_by_slug
from bot.telegram_updates import TenantBot, handle_update

log = logging.getLogger(__name__)
bp = Blueprint("telegram", __name__, url_prefix="/webhooks/telegram")


@bp.post("/<slug>")
def update(slug: str):  # type: ignore[no-untyped-def]
    """One Telegram update for the tenant's bot."""
    runtime = current_app.extensions["crms"]
    with runtime.db.session() as s:
        tenant = tenant_by_slug(s, slug)
        secret = tenant.telegram_webhook_secret if tenant else None
        bot = TenantBot.of(tenant) if tenant else None
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if bot is None or not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        metrics.WEBHOOKS_REJECTED.labels("telegram", "secret").inc()
        abort(403, description="wrong or missing secret token")
    from aiogram.types import Update  # imported on the first update: aiogram is slow to load

    try:
        parsed = Update.model_validate(request.get_json(force=True, silent=False))
    except (ValidationError, ValueError, TypeError):
        metrics.WEBHOOKS_REJECTED.labels("telegram", "malformed").inc()
        abort(400, description="not a Telegram update")
    answer = handle_update(runtime, bot, parsed)
    # A Bot API call in the response body is made by Telegram itself: no round trip of ours.
    return jsonify(answer) if answer else jsonify(ok=True)
