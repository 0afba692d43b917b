"""Telegram's sending limits, kept per bot.

About 1 message a second per chat, 20 a minute per group, 30 a second per bot: `reserve`
books the next free slot and says how long to wait for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

PER_CHAT = 1.0  # seconds between messages to one private chat
PER_GROUP = 3.0  # 20 a minute to one group
PER_BOT = 1 / 30  # 30 a second per bot


class Pacer:
    """Books send slots per (bot, chat) and per bot; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, per_chat: float = PER_CHAT,
                 per_group: float = PER_GROUP, per_bot: float = PER_BOT) -> None:
        self.clock = clock
        self.per_chat, self.per_group, self.per_bot = per_chat, per_group, per_bot
        self._next: dict[tuple[str, int | None], float] = {}
        self._lock = threading.Lock()

    def reserve(self, bot: str, chat: int, group: bool = False,
                max_wait: float = float("inf")) -> float:
        """Seconds to wait before sending to `chat`; the slot is booked when within `max_wait`."""
        with self._lock:
            now = self.clock()
            # the bot's budget is spent when a slot is booked; a chat's slot may lie later
            bot_slot = max(now, self._next.get((bot, None), now))
            start = max(bot_slot, self._next.get((bot, chat), now))
            if start - now > max_wait:
                return start - now
            self._next[(bot, chat)] = start + (self.per_group if group else self.per_chat)
            self._next[(bot, None)] = bot_slot + self.per_bot
            if len(self._next) > 10_000:  # forget chats whose slot has long passed
                self._next = {k: v for k, v in self._next.items() if v > now}
            return start - now
