"""Escalation: hand the conversation to staff (asked for, a reported problem, not understood).

Staff hold the conversation until they hand it back; while they do, the renter's messages are
relayed to the staff chat (the staff side of the relay arrives with the Telegram channel).
"""

from __future__ import annotations

from bot.messages import MsgKey
from flows.base import Context, Flow, Turn
from flows.trip_info import opening_hours


def hand_over(ctx: Context, reason: str, text: str) -> None:
    """Mark the conversation for staff and tell them why."""
    conv = ctx.conversation
    conv.staff_mode = True
    conv.fallback_count = 0
    ctx.finish()
    booking = ctx.booking
    ctx.notify_staff("staff.handover", ref=booking.ref if booking else "-",
                     reason=MsgKey(f"reason.{reason}"), text=text[:500] or "-")
    ctx.audit("conversation.handover", "conversation", conv.id, reason=reason)


class HumanAgentFlow(Flow):
    """The renter asks for a person."""

    name = "human_agent"
    intents = ("human_agent",)

    def start(self, ctx: Context, turn: Turn) -> None:
        """Hand over and say when staff answer."""
        if ctx.conversation.staff_mode:
            ctx.say("agent.already")
            return
        hand_over(ctx, "asked", turn.text)
        ctx.say("agent.handover", hours=opening_hours(ctx))


class ReportProblemFlow(Flow):
    """Accident, breakdown, damage: safety first, then staff at once."""

    name = "report_problem"
    intents = ("report_problem",)

    def start(self, ctx: Context, turn: Turn) -> None:
        """Give the emergency numbers and alert staff urgently."""
        booking = ctx.booking
        ctx.conversation.staff_mode = True
        ctx.finish()
        ctx.say("problem.reported")
        ctx.notify_staff("staff.problem", ref=booking.ref if booking else "-",
                         text=turn.text[:500] or "-")
        ctx.audit("conversation.problem_reported", "conversation", ctx.conversation.id)


class FallbackFlow(Flow):
    """Not understood: ask to rephrase once, then offer staff."""

    name = "fallback"
    intents = ("nlu_fallback",)

    def start(self, ctx: Context, turn: Turn) -> None:
        """Rephrase first, staff the second time."""
        conv = ctx.conversation
        conv.fallback_count += 1
        if conv.fallback_count < 2:
            ctx.say("fallback.rephrase")
            return
        conv.fallback_count = 0
        ctx.say("fallback.offer_staff", buttons=(("button.yes", "/agent"), ("button.no", "/no")))
