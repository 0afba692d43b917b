"""Escalation: hand the conversation to staff (asked for, a reported problem, not understood).

Staff hold the conversation until they hand it back (`/close`); while they do, the renter's
messages are relayed into the renter's topic in the staff group (bot/staff.py).
"""

from __future__ import annotations

from bot import staff
from flows.base import Context, Flow, Turn
from flows.trip_info import opening_hours


def hand_over(ctx: Context, reason: str, urgent: bool = False) -> None:
    """Leave the flow and give the conversation to staff, with the summary in its topic."""
    ctx.finish()
    staff.escalate(ctx.session, ctx.tenant, ctx.conversation, ctx.now, reason, urgent=urgent)


class HumanAgentFlow(Flow):
    """The renter asks for a person."""

    name = "human_agent"
    intents = ("human_agent",)

    def start(self, ctx: Context, turn: Turn) -> None:
        """Hand over and say when staff answer."""
        if ctx.conversation.staff_mode:
            ctx.say("agent.already")
            return
        hand_over(ctx, "asked")
        ctx.say("agent.handover", hours=opening_hours(ctx))


class ReportProblemFlow(Flow):
    """Accident, breakdown, damage: safety first, then staff at once."""

    name = "report_problem"
    intents = ("report_problem",)

    def start(self, ctx: Context, turn: Turn) -> None:
        """Give the emergency numbers and alert staff urgently."""
        tenant = ctx.tenant
        emergency = tenant.setting("emergency_phone") or tenant.setting("phone") or "-"
        ctx.say("problem.reported", emergency=emergency)
        hand_over(ctx, "problem", urgent=True)


class FallbackFlow(Flow):
    """Not understood: ask to rephrase once; the second time in a row a person takes over."""

    name = "fallback"
    intents = ("nlu_fallback",)

    def start(self, ctx: Context, turn: Turn) -> None:
        """Rephrase first, staff the second time."""
        conv = ctx.conversation
        conv.fallback_count += 1
        if conv.fallback_count < 2:
            ctx.say("fallback.rephrase")
            return
        hand_over(ctx, "not_understood")
        ctx.say("fallback.handover", hours=opening_hours(ctx))
