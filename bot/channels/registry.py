"""The provider registry: one line per channel, and the payment gateway.

Each is the sandbox implementation while its credentials are unset.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.channels.base import ChannelAdapter
from bot.channels.sandbox import SandboxAdapter
from bot.channels.telegram import TelegramAdapter
from bot.channels.twilio import TwilioAdapter
from bot.config import Config
from bot.services.payments import PaymentGateway, SandboxPayments
from bot.services.stripe_gateway import StripeGateway

log = logging.getLogger(__name__)
CHANNELS = ("whatsapp", "sms", "telegram", "staff")


def build_channels(config: Config, telegram_tokens: Callable[[int], str | None] | None = None,
                   ) -> dict[str, ChannelAdapter]:
    """Adapters for every channel, real or sandbox."""
    adapters: dict[str, ChannelAdapter] = {name: SandboxAdapter(name) for name in CHANNELS}
    if telegram_tokens is not None:  # per-tenant bots; tenants without a token stay sandbox
        adapters["telegram"] = TelegramAdapter("telegram", telegram_tokens,
                                               config.telegram_api_base)
        adapters["staff"] = adapters["telegram"].for_staff()  # type: ignore[attr-defined]
    if config.twilio_sandbox:
        log.warning("SANDBOX MODE: WhatsApp and SMS go to /sandbox, not to Twilio "
                    "(TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN unset)")
    else:
        for name in ("whatsapp", "sms"):
            adapters[name] = TwilioAdapter(name, config.twilio_account_sid or "",
                                           config.twilio_auth_token or "",
                                           config.twilio_api_base, config.public_url)
    return adapters


def build_payments(config: Config) -> PaymentGateway:
    """The payment gateway: sandbox while STRIPE_SECRET_KEY is unset."""
    if config.stripe_sandbox:
        log.warning("SANDBOX MODE: payment links open the local sandbox payment page "
                    "(STRIPE_SECRET_KEY unset)")
        return SandboxPayments(config.public_url)
    if not config.stripe_webhook_secret:
        log.error("STRIPE_WEBHOOK_SECRET is unset: Stripe events will be refused")
    return StripeGateway(config.stripe_secret_key or "", config.stripe_api_base)
