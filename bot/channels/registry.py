"""The channel registry: one line per channel, sandbox where credentials are unset."""

from __future__ import annotations

import logging

from bot.channels.base import ChannelAdapter
from bot.channels.sandbox import SandboxAdapter
from bot.config import Config

log = logging.getLogger(__name__)
CHANNELS = ("whatsapp", "sms", "telegram", "staff")


def build_channels(config: Config) -> dict[str, ChannelAdapter]:
    """Adapters for every channel, real or sandbox."""
    adapters: dict[str, ChannelAdapter] = {}
    for name in CHANNELS:
        adapters[name] = SandboxAdapter(name)
    if config.twilio_sandbox:
        log.warning("SANDBOX MODE: WhatsApp and SMS go to /sandbox, not to Twilio "
                    "(TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN unset)")
    else:
        log.warning("Twilio credentials are set but the Twilio adapter is not installed yet; "
                    "WhatsApp and SMS stay in sandbox mode")
    return adapters
