"""Thin RQ entry points, verb first; each builds the runtime once per worker process."""

from __future__ import annotations

from functools import lru_cache

from bot.runtime import Runtime, build_runtime


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """The worker's runtime, from the environment."""
    return build_runtime()


def process_inbound(conversation_id: int) -> int:
    """Handle a conversation's unprocessed messages."""
    return runtime().engine.process_conversation(conversation_id)


def relay_outbox() -> int:
    """Send what is due in the outbox."""
    return runtime().relay.run_once()


def fire_reminders() -> int:
    """Turn due reminders into outbox rows."""
    return runtime().scheduler.run_once()
