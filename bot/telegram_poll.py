"""`crms-bot telegram-poll`: the webhook's path by long polling.

For installations without a public URL. One task per tenant bot; updates go through the same
code as the webhook (bot/telegram_updates.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from bot.channels.telegram import ALLOWED_UPDATES, make_bot
from bot.models import Tenant
from bot.runtime import Runtime
from bot.telegram_updates import TenantBot, handle_update

log = logging.getLogger(__name__)
POLL_TIMEOUT = 25  # seconds Telegram holds a getUpdates open


class WebhookIsSet(RuntimeError):
    """Telegram will not hand out updates by polling while a webhook is registered."""


def tenant_bots(runtime: Runtime, slugs: tuple[str, ...]) -> list[tuple[TenantBot, str]]:
    """The tenants to poll for (all with a bot token, or those named) and their tokens."""
    from sqlalchemy import select

    with runtime.db.session() as s:
        tenants = list(s.scalars(select(Tenant).order_by(Tenant.id)))
        found = [(TenantBot.of(t), t.telegram_bot_token) for t in tenants
                 if t.telegram_bot_token and (not slugs or t.slug in slugs)]
    missing = set(slugs) - {bot.slug for bot, _ in found}
    if missing:
        raise LookupError(f"no Telegram bot token for: {', '.join(sorted(missing))}")
    return [(bot, token) for bot, token in found if token]


async def poll(runtime: Runtime, bots: list[tuple[TenantBot, str]],
               stop: Callable[[], bool] = lambda: False, once: bool = False) -> int:
    """Poll every bot until `stop()`; with `once`, one round each. Returns updates handled."""
    clients = [(tenant, make_bot(token, runtime.config.telegram_api_base))
               for tenant, token in bots]
    try:
        for tenant, client in clients:
            info = await client.get_webhook_info()
            if info.url:
                raise WebhookIsSet(
                    f"tenant {tenant.slug!r} has a webhook set ({info.url}): Telegram sends its "
                    f"updates there. Remove it with `crms-bot telegram delete-webhook "
                    f"{tenant.slug}` to poll instead, or keep the webhook and do not poll.")
        counts = await asyncio.gather(*(_poll_one(runtime, tenant, client, stop, once)
                                        for tenant, client in clients))
        return sum(counts)
    finally:
        for _, client in clients:
            await client.session.close()


async def _poll_one(runtime: Runtime, tenant: TenantBot, client: Any,
                    stop: Callable[[], bool], once: bool) -> int:
    offset: int | None = None
    handled = 0
    while not stop():
        try:
            updates = await client.get_updates(offset=offset, timeout=0 if once else POLL_TIMEOUT,
                                               allowed_updates=ALLOWED_UPDATES)
        except Exception as exc:  # noqa: BLE001 - network trouble: wait and poll again
            log.warning("getUpdates for %s failed: %s", tenant.slug, type(exc).__name__)
            await asyncio.sleep(5)
            continue
        for update in updates:
            offset = update.update_id + 1
            answer = await asyncio.to_thread(handle_update, runtime, tenant, update)
            if answer is not None:
                await _answer(client, answer["callback_query_id"])
            handled += 1
        if once:
            if offset is not None:  # confirm the last batch, as the next poll would
                await client.get_updates(offset=offset, timeout=0, allowed_updates=ALLOWED_UPDATES)
            break
    return handled


async def _answer(client: Any, query_id: str) -> None:
    """Stop the button's spinner; a press too old to answer is no reason to stop polling."""
    from aiogram.exceptions import TelegramAPIError

    try:
        await client.answer_callback_query(query_id)
    except TelegramAPIError as exc:
        log.info("callback query not answered: %s", exc.message)
