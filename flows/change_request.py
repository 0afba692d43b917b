"""Extend and cancel: structured requests to staff; the bot promises nothing staff have not approved.

extend_rental: awaiting_date -> (request sent). cancel_booking: awaiting_confirmation -> sent.
"""

from __future__ import annotations

from datetime import date

from bot.i18n import format_day, format_when
from flows.base import Context, Flow, Turn

YES_NO = (("button.yes", "/yes"), ("button.no", "/no"))


class ExtendRentalFlow(Flow):
    """Asks for the new return date and passes the request to staff."""

    name = "extend_rental"
    intents = ("extend_rental",)
    needs_booking = True

    def start(self, ctx: Context, turn: Turn) -> None:
        """Take the date from the message or ask for it."""
        ctx.goto(self.name, "awaiting_date")
        if not self.on_awaiting_date(ctx, turn):
            ctx.say("change.extend_ask")

    def on_awaiting_date(self, ctx: Context, turn: Turn) -> bool:
        """A new return date after the current one goes to staff."""
        if not turn.entities.get("date"):
            if turn.intent == "deny":
                ctx.finish()
                ctx.say("change.aborted")
                return True
            return False
        booking = ctx.booking
        assert booking is not None
        wanted = date.fromisoformat(turn.entities["date"])
        tz = ctx.tenant.setting("timezone")
        current = format_when(booking.return_at, ctx.language, tz)
        if wanted <= booking.return_at.date():
            ctx.say("change.extend_bad_date", current=current)
            return True
        ctx.finish()
        ctx.say("change.extend_requested", ref=booking.ref, date=format_day(wanted, ctx.language))
        staff_lang = ctx.tenant.default_language
        ctx.notify_staff("staff.extend_request", ref=booking.ref,
                         current=format_when(booking.return_at, staff_lang, tz),
                         date=format_day(wanted, staff_lang))
        ctx.audit("booking.extend_requested", "booking", booking.id, until=wanted.isoformat())
        return True


class CancelBookingFlow(Flow):
    """Confirms the wish to cancel and passes it to staff."""

    name = "cancel_booking"
    intents = ("cancel_booking",)
    needs_booking = True

    def start(self, ctx: Context, turn: Turn) -> None:
        """Ask to confirm."""
        booking = ctx.booking
        assert booking is not None
        ctx.goto(self.name, "awaiting_confirmation")
        ctx.say("change.cancel_confirm", buttons=YES_NO, ref=booking.ref)

    def on_awaiting_confirmation(self, ctx: Context, turn: Turn) -> bool:
        """Yes sends the request to staff; no leaves the booking alone."""
        if turn.intent not in ("affirm", "deny"):
            return False
        ctx.finish()
        booking = ctx.booking
        assert booking is not None
        if turn.intent == "deny":
            ctx.say("change.aborted")
            return True
        ctx.say("change.cancel_requested", ref=booking.ref)
        tz = ctx.tenant.setting("timezone")
        ctx.notify_staff("staff.cancel_request", ref=booking.ref,
                         pickup=format_when(booking.pickup_at, ctx.tenant.default_language, tz))
        ctx.audit("booking.cancel_requested", "booking", booking.id)
        return True
