"""FAQ: deposit, insurance, opening hours and the licence, from the tenant's settings."""

from __future__ import annotations

from decimal import Decimal

from bot.i18n import format_money
from flows.base import Context, Flow, Turn


class FaqFlow(Flow):
    """ask_deposit, ask_insurance."""

    name = "faq"
    intents = ("ask_deposit", "ask_insurance")

    def start(self, ctx: Context, turn: Turn) -> None:
        """Answer from the booking (when verified) and the tenant's settings."""
        getattr(self, turn.intent)(ctx)

    def ask_deposit(self, ctx: Context) -> None:
        """The deposit of the renter's booking, or how it works in general."""
        booking = ctx.booking
        if booking is not None:
            ctx.say("faq.deposit", amount=format_money(booking.deposit_chf, ctx.language))
        else:
            ctx.say("faq.deposit_generic")

    def ask_insurance(self, ctx: Context) -> None:
        """Cover and deductible."""
        deductible = Decimal(str(ctx.tenant.setting("insurance_deductible_chf") or 1500))
        ctx.say("faq.insurance", deductible=format_money(deductible, ctx.language))
