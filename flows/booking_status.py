"""Booking status: the verified renter's booking, with Swiss dates and CHF."""

from __future__ import annotations

from bot.i18n import format_money, format_when
from bot.messages import MsgKey
from flows.base import Context, Flow, Turn


class BookingStatusFlow(Flow):
    """Answers "where is my booking?"."""

    name = "booking_status"
    intents = ("booking_status",)
    needs_booking = True

    def start(self, ctx: Context, turn: Turn) -> None:
        """Show the booking's details."""
        booking = ctx.booking
        assert booking is not None  # needs_booking guarantees it
        lang, tz = ctx.language, ctx.tenant.setting("timezone")
        vehicle = booking.vehicle
        ctx.say("booking.status", ref=booking.ref,
                vehicle=(vehicle.model or vehicle.category) if vehicle else "-",
                plate=vehicle.plate if vehicle else "-",
                pickup=format_when(booking.pickup_at, lang, tz),
                pickup_location=booking.pickup_location,
                return_at=format_when(booking.return_at, lang, tz),
                return_location=booking.return_location,
                amount=format_money(booking.amount_due_chf, lang),
                deposit=format_money(booking.deposit_chf, lang),
                status=MsgKey(f"status.{booking.status}"))
