"""Answers to a reminder, understood in its context.

"I'll be 30 minutes late" after a pickup reminder (or with the pickup a few hours ahead) tells
the branch and reassures the renter; after a return reminder it names the late-return charge
and offers to extend. "Can I return tomorrow?" after a return reminder is a request to extend
the rental. Everything else goes on as without the reminder (return_info, human_agent, ...).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from bot.i18n import format_when
from bot.models import Booking, Reminder
from flows.base import Context, Flow, Turn

LATE = re.compile(r"\b(late|later|delay(ed)?|sp[äa]ter|versp[äa]t\w*|retard|ritardo|tardi)\b",
                  re.I)
REPLY_WINDOW = timedelta(hours=30)  # a reminder this recent gives a reply its meaning,
AFTER_EVENT = timedelta(hours=3)  # until a little after the pickup or return it announced
NEAR = timedelta(hours=24)  # without a reminder: the pickup or return this close


def in_context(ctx: Context, turn: Turn) -> Turn:
    """The turn as the renter means it after a reminder; unchanged when there is no context.

    The renter need not be identified yet (a reply by SMS to a reminder): a recent reminder
    to the renter's number is context enough, and the flow it leads to identifies first.
    """
    late = bool(LATE.search(turn.text))
    dated_return = turn.intent == "return_info" and bool(turn.entities.get("date"))
    if not (late or dated_return) or ctx.conversation.flow:
        return turn
    event = context_event(ctx)
    if event is None:
        return turn
    if late:
        return replace(turn, intent="running_late", entities={**turn.entities, "event": event})
    if event == "return":
        return replace(turn, intent="extend_rental")
    return turn


def context_event(ctx: Context) -> str | None:
    """Pickup or return: what a recent reminder was about, else what is near; None if neither."""
    conv, booking = ctx.conversation, ctx.booking
    if booking is None and conv.customer_id is None:
        return None
    about = Booking.id == booking.id if booking is not None else \
        (Booking.customer_id == conv.customer_id) & (Booking.tenant_id == ctx.tenant.id)
    kind = ctx.session.scalar(select(Reminder.kind).join(Booking, Booking.id == Reminder.booking_id)
                              .where(about, Reminder.state == "sent",
                                     Reminder.sent_at >= ctx.now - REPLY_WINDOW,
                                     Reminder.event_at >= ctx.now - AFTER_EVENT,
                                     Reminder.kind.in_(("pickup_24h", "pickup_2h", "return_24h",
                                                        "return_2h")))
                              .order_by(Reminder.sent_at.desc()).limit(1))
    if kind is not None:
        return kind.split("_")[0]
    if booking is None:
        return None
    if ctx.now < booking.pickup_at <= ctx.now + NEAR:
        return "pickup"
    if booking.pickup_at <= ctx.now < booking.return_at <= ctx.now + NEAR:
        return "return"
    return None


class RunningLateFlow(Flow):
    """The renter will be late for the pickup or the return: reassure, inform staff."""

    name = "running_late"
    intents = ("running_late",)
    needs_booking = True

    def start(self, ctx: Context, turn: Turn) -> None:
        """Answer for the pickup or the return, and tell the branch."""
        booking = ctx.booking
        assert booking is not None
        tz = ctx.tenant.setting("timezone")
        staff_language = ctx.tenant.default_language
        event = turn.entities.get("event") or context_event(ctx) or (
            "pickup" if ctx.now < booking.pickup_at else "return")
        if event == "return":
            fee = Decimal(str(ctx.tenant.setting("late_return_fee_chf") or 0))
            ctx.say("reminder.late_return", fee=fee)
            ctx.notify_staff("staff.late_return", ref=booking.ref, late=turn.text[:300],
                             when=format_when(booking.return_at, staff_language, tz))
        else:
            ctx.say("reminder.late_pickup", location=booking.pickup_location)
            ctx.notify_staff("staff.late_pickup", ref=booking.ref, late=turn.text[:300],
                             when=format_when(booking.pickup_at, staff_language, tz))
        ctx.audit("booking.running_late", "booking", booking.id, event=event)
