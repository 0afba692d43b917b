"""Opt-out: STOP ends reminders, START brings them back; confirmed in the renter's language."""

from __future__ import annotations

from sqlalchemy import update

from bot.models import Customer
from flows.base import Context, Flow, Turn


class OptOutFlow(Flow):
    """opt_out and opt_in."""

    name = "opt_out"
    intents = ("opt_out", "opt_in")

    def start(self, ctx: Context, turn: Turn) -> None:
        """Record the choice on the conversation and on the renter, if known."""
        opted_out = turn.intent == "opt_out"
        conv = ctx.conversation
        conv.data = {**(conv.data or {}), "opted_out": opted_out}
        if conv.customer_id is not None:
            ctx.session.execute(update(Customer).where(
                Customer.id == conv.customer_id, Customer.tenant_id == ctx.tenant.id,
            ).values(opted_out=opted_out))
        ctx.finish()
        ctx.audit("conversation.opt_out" if opted_out else "conversation.opt_in",
                  "conversation", conv.id)
        ctx.say("optout.confirmed" if opted_out else "optout.resumed")
