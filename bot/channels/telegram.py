"""Telegram through aiogram 3: one long-lived event loop owns every tenant's Bot.

An aiogram Bot belongs to the loop it first ran on, so sending never uses `asyncio.run` per
message: coroutines are handed to a loop running in its own thread.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import threading
import time
from collections.abc import Callable
from typing import Any

from bot.channels.base import PermanentSendError, SendResult, TransientSendError
from bot.channels.pacing import Pacer
from bot.channels.sandbox import SandboxAdapter
from bot.messages import SHARE_CONTACT, FetchedMedia, OutboundMessage

log = logging.getLogger(__name__)
SEND_TIMEOUT = 20.0
MAX_FILE_BYTES = 20 * 1024 * 1024  # what the Bot API lets bots download
MAX_INLINE_WAIT = 1.5  # longer waits for a rate limit go back to the outbox with a retry time


ALLOWED_UPDATES = ["message", "callback_query"]  # what the bots ask Telegram for


def make_bot(token: str, api_base: str | None) -> Any:
    """An aiogram Bot, pointed at another Bot API server when one is configured."""
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    if api_base:
        return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_base)))
    return Bot(token)


def _is_chat_id(address: str) -> bool:
    return address.lstrip("-").isdigit()


class TelegramAdapter:
    """Sends with the tenant's own bot; tenants without a bot token stay in sandbox mode.

    Args:
        token_for: the tenant's bot token by tenant id (None: sandbox).
        api_base: another Bot API server (CRMS_TELEGRAM_API_BASE), e.g. a local one in tests.

    """

    provider = "telegram"

    def __init__(self, name: str, token_for: Callable[[int], str | None],
                 api_base: str | None = None, pacer: Pacer | None = None) -> None:
        self.name = name
        self.token_for = token_for
        self.api_base = api_base
        self.sandbox = SandboxAdapter(name)
        self.pacer = pacer or Pacer()
        self._bots: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()

    def for_staff(self) -> "TelegramAdapter":
        """The staff-group side: the same bots, loop and rate limits, its own sandbox."""
        staff = TelegramAdapter("staff", self.token_for, self.api_base, self.pacer)
        staff._bots, staff._shared = self._bots, self
        return staff

    _shared: "TelegramAdapter | None" = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        # started on first use: aiogram takes two seconds to import, most processes never send
        if self._shared is not None:
            return self._shared._running_loop()
        with self._loop_lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="crms-telegram",
                                 daemon=True).start()
        return self._loop

    def _bot(self, token: str) -> Any:
        if token not in self._bots:
            self._bots[token] = make_bot(token, self.api_base)
        return self._bots[token]

    def send(self, message: OutboundMessage) -> SendResult:
        """Send text (with inline buttons) and a location pin when there is one.

        On the staff channel: into the renter's topic (created when there is none yet), or a
        reaction on a staff member's message. Telegram's limits are kept by the pacer; a 429
        comes back as a retry at the time Telegram names.
        """
        token = self.token_for(message.tenant_id) if message.tenant_id is not None else None
        if not token or not _is_chat_id(message.address):
            return self.sandbox.send(message)
        from aiogram.exceptions import (
            TelegramAPIError,
            TelegramNetworkError,
            TelegramRetryAfter,
            TelegramServerError,
        )

        chat = int(message.address)
        if message.reaction is None:  # reactions are not messages: they do not count
            wait = self.pacer.reserve(token, chat, group=chat < 0, max_wait=MAX_INLINE_WAIT)
            if wait > MAX_INLINE_WAIT:
                raise TransientSendError(f"Telegram rate limit for chat: {wait:.1f} s",
                                         retry_in=wait)
            if wait > 0:
                time.sleep(wait)
        send = self._send_staff if self.name == "staff" else self._send
        future = asyncio.run_coroutine_threadsafe(send(self._bot(token), message),
                                                  self._running_loop())
        try:
            message_id, thread_id = future.result(timeout=SEND_TIMEOUT)
        except TelegramRetryAfter as exc:
            raise TransientSendError(f"Telegram 429, retry after {exc.retry_after} s",
                                     retry_in=float(exc.retry_after)) from exc
        except (TelegramNetworkError, TelegramServerError, TimeoutError) as exc:
            raise TransientSendError(f"Telegram unavailable: {type(exc).__name__}") from exc
        except TelegramAPIError as exc:
            raise PermanentSendError(f"Telegram refused: {exc.message}") from exc
        return SendResult(str(message_id), status="sent", thread_id=thread_id)

    @staticmethod
    def _markup(message: OutboundMessage) -> Any:
        from aiogram.types import (
            InlineKeyboardButton,
            InlineKeyboardMarkup,
            KeyboardButton,
            ReplyKeyboardMarkup,
        )

        if not message.buttons:
            return None
        share = [b for b in message.buttons if b.payload == SHARE_CONTACT]
        if share:  # Telegram asks the user before sharing; inline buttons cannot do this
            return ReplyKeyboardMarkup(
                keyboard=[[KeyboardButton(text=share[0].title, request_contact=True)]],
                one_time_keyboard=True, resize_keyboard=True)
        return InlineKeyboardMarkup(inline_keyboard=[
            [InlineKeyboardButton(text=b.title, callback_data=b.payload[:64])]
            for b in message.buttons])

    async def _send(self, bot: Any, message: OutboundMessage) -> tuple[int, int | None]:
        chat = int(message.address)
        sent = await bot.send_message(chat_id=chat, text=message.text,
                                      reply_markup=self._markup(message))
        if message.location:
            await bot.send_location(chat_id=chat, latitude=message.location[0],
                                    longitude=message.location[1])
        if message.files:
            from aiogram.types import BufferedInputFile

            for filename, _kind, data in message.files:  # the QR-bill PDF, as a document
                await bot.send_document(chat_id=chat,
                                        document=BufferedInputFile(data, filename=filename))
        return sent.message_id, None

    async def _send_staff(self, bot: Any, message: OutboundMessage) -> tuple[int, int | None]:
        """Into the renter's topic; a new topic if it has none or staff deleted it."""
        from aiogram.exceptions import TelegramBadRequest
        from aiogram.types import ReactionTypeEmoji

        chat = int(message.address)
        if message.reaction is not None and message.react_to is not None:
            await bot.set_message_reaction(chat_id=chat, message_id=message.react_to,
                                           reaction=[ReactionTypeEmoji(emoji=message.reaction)])
            return message.react_to, message.thread_id
        thread = message.thread_id
        if thread is None and message.topic_name:
            thread = await self._open_topic(bot, chat, message.topic_name)
        try:
            sent = await bot.send_message(chat_id=chat, text=message.text,
                                          message_thread_id=thread,
                                          reply_markup=self._markup(message))
        except TelegramBadRequest as exc:
            if thread is None or "thread" not in exc.message.lower() or not message.topic_name:
                raise
            thread = await self._open_topic(bot, chat, message.topic_name)  # topic was deleted
            sent = await bot.send_message(chat_id=chat, text=message.text,
                                          message_thread_id=thread,
                                          reply_markup=self._markup(message))
        return sent.message_id, thread

    @staticmethod
    async def _open_topic(bot: Any, chat: int, name: str) -> int | None:
        """A new forum topic; None when the group has no topics (messages go to the group)."""
        from aiogram.exceptions import TelegramBadRequest

        try:
            topic = await bot.create_forum_topic(chat_id=chat, name=name)
        except TelegramBadRequest as exc:
            log.warning("staff group %s has no topics (%s): posting in the group", chat,
                        exc.message)
            return None
        return int(topic.message_thread_id)

    def fetch_media(self, url: str) -> FetchedMedia:
        """Download a file the renter sent (getFile, then the file URL), 20 MB at most."""
        try:
            _, tenant, file_id = url.split(":", 2)
            token = self.token_for(int(tenant))
        except ValueError:
            return FetchedMedia("", None, "not a Telegram file")
        if not token:
            return FetchedMedia("", None, "tenant has no Telegram bot")
        future = asyncio.run_coroutine_threadsafe(self._download(self._bot(token), file_id),
                                                  self._running_loop())
        try:
            return future.result(timeout=SEND_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - any failure: the renter is asked again
            return FetchedMedia("", None, f"error:{type(exc).__name__}")

    @staticmethod
    async def _download(bot: Any, file_id: str) -> FetchedMedia:
        info = await bot.get_file(file_id)
        if (info.file_size or 0) > MAX_FILE_BYTES:
            return FetchedMedia("", None, "too_large")
        data = await bot.download_file(info.file_path)
        content = data.getvalue()
        if len(content) > MAX_FILE_BYTES:
            return FetchedMedia("", None, "too_large")
        kind = mimetypes.guess_type(info.file_path or "")[0] or "application/octet-stream"
        return FetchedMedia(kind, content)

    def close(self) -> None:
        """Close the bots' HTTP sessions and stop the loop."""
        if self._loop is None:
            return
        for bot in self._bots.values():
            asyncio.run_coroutine_threadsafe(bot.session.close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
