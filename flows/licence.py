"""Driving licence: ask for a photo, keep it encrypted, hand it to staff for review.

States: awaiting_photo -> received (flow ends). The OCR and the automatic checks against the
booking arrive with the licence issue; the photo already reaches this flow from every channel.
"""

from __future__ import annotations

from bot.messages import FetchedMedia
from bot.models import LicenceCheck
from flows.base import Context, Flow, Turn


def first_readable(turn: Turn) -> FetchedMedia | None:
    """The first downloaded photo or PDF of the turn (None data if the download failed)."""
    return next(iter(turn.attachments), None)


class LicenceFlow(Flow):
    """upload_license."""

    name = "licence"
    intents = ("upload_license",)
    needs_booking = True

    def start(self, ctx: Context, turn: Turn) -> None:
        """Take the photo if it came with the message, else ask for one with a tip."""
        if turn.attachments:
            self.receive(ctx, turn)
            return
        ctx.goto(self.name, "awaiting_photo")
        ctx.say("licence.ask_photo")

    def on_awaiting_photo(self, ctx: Context, turn: Turn) -> bool:
        """A photo or PDF arrives."""
        if not turn.attachments:
            return False
        self.receive(ctx, turn)
        return True

    def receive(self, ctx: Context, turn: Turn) -> None:
        """Store the image encrypted and ask staff to review it."""
        media = first_readable(turn)
        booking = ctx.booking
        assert booking is not None
        if media is None or media.data is None:
            ctx.goto(self.name, "awaiting_photo")
            ctx.say("input.media_failed")
            return
        check = LicenceCheck(tenant_id=ctx.tenant.id, booking_id=booking.id,
                             customer_id=booking.customer_id, status="received",
                             image=media.data, content_type=media.content_type,
                             created_at=ctx.now)
        ctx.session.add(check)
        ctx.session.flush()
        ctx.finish()
        ctx.say("licence.received", ref=booking.ref)
        ctx.notify_staff("staff.licence_review", check=check.id, ref=booking.ref,
                         kind=media.content_type, size=max(1, len(media.data) // 1024))
        ctx.audit("licence.received", "licence_check", check.id, content_type=media.content_type)
