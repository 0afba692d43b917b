"""Pickup and return information: time, address, opening hours, a pin or a map link."""

from __future__ import annotations

import re
from urllib.parse import quote_plus

from bot.i18n import format_when
from bot.messages import Reply
from flows.base import Context, Flow, Turn


def opening_hours(ctx: Context) -> str:
    """The tenant's opening hours in the conversation's language."""
    hours = ctx.tenant.setting("opening_hours")
    if isinstance(hours, dict):
        return str(hours.get(ctx.language) or hours.get("de") or next(iter(hours.values()), ""))
    return str(hours or "")


OPENING_HOURS = re.compile(
    r"öffnungszeit|offen|geöffnet|opening hours|open (on|at|today|tomorrow)|when are you open|"
    r"horaire|heures d'ouverture|ouvert|orari|aperti|apertura|uras d'avertura", re.IGNORECASE)


class TripInfoFlow(Flow):
    """pickup_info and return_info (and opening hours, which need no booking)."""

    name = "trip_info"
    intents = ("pickup_info", "return_info")
    needs_booking = True

    def needs_booking_for(self, turn: Turn) -> bool:
        """Opening hours are public; times and places of a booking are not."""
        return not OPENING_HOURS.search(turn.text)

    def start(self, ctx: Context, turn: Turn) -> None:
        """Tell when and where, with a location pin or a map link on SMS."""
        booking = ctx.booking
        if booking is None:  # asked for opening hours only
            ctx.say("faq.opening_hours", hours=opening_hours(ctx),
                    address=ctx.tenant.setting("address") or "-")
            return
        pickup = turn.intent == "pickup_info"
        when = booking.pickup_at if pickup else booking.return_at
        location = booking.pickup_location if pickup else booking.return_location
        key = "pickup.info" if pickup else "return.info"
        coords = ctx.tenant.setting("locations") or {}
        pin = coords.get(location)
        ctx.send(Reply(key, {"ref": booking.ref, "location": location, "hours": opening_hours(ctx),
                             "when": format_when(when, ctx.language, ctx.tenant.setting("timezone"))},
                       location=tuple(pin) if pin else None))
        if ctx.conversation.channel == "sms" or not pin:
            url = f"https://www.google.com/maps/search/?api=1&query={quote_plus(location)}"
            ctx.say("location.map_link", url=url)
