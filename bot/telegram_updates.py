"""Telegram updates, from the webhook or from long polling, into the engine or the staff desk.

A renter's private chat becomes an `InboundMessage`; a message in the tenant's staff group
goes to the staff desk (bot/staff.py). Updates from any other chat change nothing. Telegram
re-sends updates it thinks were slow: the update id makes each one count once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot import metrics
from bot.messages import InboundMessage, Media
from bot.models import Tenant
from bot.staff import StaffInput, act

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TenantBot:
    """What handling an update needs to know about the tenant."""

    id: int
    slug: str
    staff_chat_id: str | None
    staff_user_ids: tuple[int, ...] = ()

    @classmethod
    def of(cls, tenant: Tenant) -> "TenantBot":
        """From the tenant row (read once per update)."""
        ids = tuple(int(i) for i in tenant.setting("staff_user_ids") or ())
        return cls(tenant.id, tenant.slug, tenant.staff_chat_id, ids)


def handle_update(runtime: Any, bot: TenantBot, parsed: Any) -> dict[str, Any] | None:
    """Record and queue one update; returns a Bot API call to answer with (a button press).

    Used by the webhook (which answers with the call in its response body) and by
    `crms-bot telegram-poll` (which makes the call).
    """
    answer = None
    query = parsed.callback_query
    if query is not None:  # stop the button's spinner at once, whatever the press means
        answer = {"method": "answerCallbackQuery", "callback_query_id": query.id}
    message = parsed.message or parsed.edited_message
    if message is not None and bot.staff_chat_id and str(message.chat.id) == bot.staff_chat_id:
        handle_staff(runtime, bot, parsed.update_id, message)
        return answer
    inbound = to_inbound(bot.slug, bot.id, parsed)
    if inbound is None:
        log.info("telegram update %s of type %s ignored", parsed.update_id, parsed.event_type)
        return answer
    receipt = runtime.engine.receive(inbound)
    if not receipt.duplicate:
        runtime.work.enqueue_conversation(receipt.conversation_id)
    return answer


def handle_staff(runtime: Any, bot: TenantBot, update_id: int, message: Any) -> str:
    """A message in the tenant's staff group: a reply to a renter or a command."""
    user = message.from_user
    if user is None or user.is_bot:
        return "ignored"
    if bot.staff_user_ids and user.id not in bot.staff_user_ids:
        metrics.WEBHOOKS_REJECTED.labels("telegram", "not_staff").inc()
        log.warning("staff group message from a user not on the tenant's staff list ignored")
        return "ignored"
    reply_to = message.reply_to_message
    given = StaffInput(
        tenant_id=bot.id, text=message.text or message.caption or "",
        author=(user.full_name or user.username or str(user.id))[:100],
        topic_id=message.message_thread_id if message.is_topic_message else None,
        reply_to=str(reply_to.message_id) if reply_to is not None else None,
        message_id=message.message_id)
    done = act(runtime.db, runtime.services.clock.now(), given,
               event=(f"telegram:{bot.slug}", str(update_id)), run_job=runtime.work.enqueue_job)
    if done == "duplicate":
        metrics.DUPLICATES.labels("staff").inc()
        return done
    log.info("staff update %s: %s", update_id, done)
    runtime.work.wake_outbox()
    return done


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
    # Only the sender's own contact (the share button) vouches for a phone number.
    own = message.contact is not None and message.from_user is not None \
        and message.contact.user_id == message.from_user.id
    if own:
        text = message.contact.phone_number
    return InboundMessage(channel="telegram", sender=str(message.chat.id), text=text,
                          provider_id=provider_id, tenant_slug=slug, media=media, contact=own,
                          language_hint=message.from_user.language_code if message.from_user
                          else None)
