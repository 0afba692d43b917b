"""FAQ: deposit, insurance, opening hours and the licence, from the tenant's settings."""

from __future__ import annotations

from decimal import Decimal

from bot.i18n import format_money
from bot.payments import deposit_of
from flows.base import Context, Flow, Turn
from flows.payment import DEPOSIT_BUTTON, PaymentFlow, asks_deposit_by_twint, wants_to_pay


class FaqFlow(Flow):
    """ask_deposit, ask_insurance."""

    name = "faq"
    intents = ("ask_deposit", "ask_insurance")

    def needs_booking_for(self, turn: Turn) -> bool:
        """Paying the deposit needs the booking; asking about it does not."""
        return turn.intent == "ask_deposit" and wants_to_pay(turn.text)

    def start(self, ctx: Context, turn: Turn) -> None:
        """Answer from the booking (when verified) and the tenant's settings."""
        if turn.intent == "ask_deposit" and asks_deposit_by_twint(turn.text):
            ctx.say("payment.deposit_no_twint", buttons=DEPOSIT_BUTTON)  # card only
            return
        if turn.intent == "ask_deposit" and ctx.booking is not None and wants_to_pay(turn.text):
            PaymentFlow().checkout(ctx, "deposit")  # "I'd like to pay the deposit"
            return
        getattr(self, turn.intent)(ctx)

    def ask_deposit(self, ctx: Context) -> None:
        """The deposit of the renter's booking (with a button to hold it), or how it works."""
        booking = ctx.booking
        if booking is None:
            ctx.say("faq.deposit_generic")
            return
        held = deposit_of(ctx.session, booking)
        can_hold = booking.deposit_chf and (held is None or held.status in ("creating", "open"))
        ctx.say("faq.deposit", amount=format_money(booking.deposit_chf, ctx.language),
                buttons=DEPOSIT_BUTTON if can_hold else ())

    def ask_insurance(self, ctx: Context) -> None:
        """Cover and deductible."""
        deductible = Decimal(str(ctx.tenant.setting("insurance_deductible_chf") or 1500))
        ctx.say("faq.insurance", deductible=format_money(deductible, ctx.language))
