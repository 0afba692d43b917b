"""Telegram through aiogram 3: one long-lived event loop owns every tenant's Bot.

An aiogram Bot belongs to the loop it first ran on, so sending never uses `asyncio.run` per
message: coroutines are handed to a loop running in its own thread.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import threading
from collections.abc import Callable
from typing import Any

from bot.channels.base import PermanentSendError, SendResult, TransientSendError
from bot.channels.sandbox import SandboxAdapter
from bot.messages import FetchedMedia, OutboundMessage

log = logging.getLogger(__name__)
SEND_TIMEOUT = 20.0
MAX_FILE_BYTES = 20 * 1024 * 1024  # what the Bot API lets bots download


class TelegramAdapter:
    """Sends with the tenant's own bot; tenants without a bot token stay in sandbox mode.

    Args:
        token_for: the tenant's bot token by tenant id (None: sandbox).
        api_base: another Bot API server (CRMS_TELEGRAM_API_BASE), e.g. a local one in tests.

    """

    provider = "telegram"

    def __init__(self, name: str, token_for: Callable[[int], str | None],
                 api_base: str | None = None) -> None:
        self.name = name
        self.token_for = token_for
        self.api_base = api_base
        self.sandbox = SandboxAdapter(name)
        self._bots: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        # started on first use: aiogram takes two seconds to import, most processes never send
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            threading.Thread(target=self._loop.run_forever, name="crms-telegram",
                             daemon=True).start()
        return self._loop

    def _bot(self, token: str) -> Any:
        from aiogram import Bot
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        if token not in self._bots:
            session = AiohttpSession(api=TelegramAPIServer.from_base(self.api_base)) \
                if self.api_base else AiohttpSession()
            self._bots[token] = Bot(token, session=session)
        return self._bots[token]

    def send(self, message: OutboundMessage) -> SendResult:
        """Send text (with inline buttons) and a location pin when there is one."""
        token = self.token_for(message.tenant_id) if message.tenant_id is not None else None
        if not token:
            return self.sandbox.send(message)
        from aiogram.exceptions import (
            TelegramAPIError,
            TelegramNetworkError,
            TelegramRetryAfter,
            TelegramServerError,
        )

        future = asyncio.run_coroutine_threadsafe(self._send(self._bot(token), message),
                                                  self._running_loop())
        try:
            message_id = future.result(timeout=SEND_TIMEOUT)
        except TelegramRetryAfter as exc:
            raise TransientSendError(f"Telegram 429, retry after {exc.retry_after} s") from exc
        except (TelegramNetworkError, TelegramServerError, TimeoutError) as exc:
            raise TransientSendError(f"Telegram unavailable: {type(exc).__name__}") from exc
        except TelegramAPIError as exc:
            raise PermanentSendError(f"Telegram refused: {exc.message}") from exc
        return SendResult(str(message_id), status="sent")

    @staticmethod
    async def _send(bot: Any, message: OutboundMessage) -> int:
        from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

        markup: Any = None
        if message.buttons:
            markup = InlineKeyboardMarkup(inline_keyboard=[
                [InlineKeyboardButton(text=b.title, callback_data=b.payload[:64])]
                for b in message.buttons])
        sent = await bot.send_message(chat_id=int(message.address), text=message.text,
                                      reply_markup=markup)
        if message.location:
            await bot.send_location(chat_id=int(message.address), latitude=message.location[0],
                                    longitude=message.location[1])
        return sent.message_id

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
