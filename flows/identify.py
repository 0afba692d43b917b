"""Identify: match the sender to a booking without ever revealing one to a stranger.

States: awaiting_ref -> (awaiting_dob | awaiting_code) -> verified (flow ends).
The sender's own phone on a booking verifies at once. Three failures lock for 15 minutes.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime, timedelta

from bot import staff
from bot.messages import SHARE_CONTACT, Reply
from bot.repository import booking_by_ref, current_booking, customers_by_phone, normalise_phone
from flows.base import Context, Flow, Turn

MAX_ATTEMPTS = 3
LOCK_FOR = timedelta(minutes=15)
CODE_VALID = timedelta(minutes=10)
STAFF_BUTTON = (("button.staff", "/agent"),)


def _code_hash(conv_id: int, code: str) -> str:
    return hashlib.sha256(f"{conv_id}:{code}".encode()).hexdigest()


class IdentifyFlow(Flow):
    """Finds the renter's booking: own phone, or reference plus date of birth or SMS code."""

    name = "identify"
    intents = ("share_contact",)

    def start(self, ctx: Context, turn: Turn) -> None:
        """Try the sender's phone, else ask for the booking reference."""
        if self.locked(ctx):
            return
        if turn.intent == "share_contact":
            self.by_shared_contact(ctx, turn)
            return
        if self.by_sender_phone(ctx):
            return
        ctx.goto(self.name, "awaiting_ref", pending=turn.intent)
        if turn.entities.get("booking_ref"):
            self.on_awaiting_ref(ctx, turn)
        else:
            self.ask_ref(ctx)

    @staticmethod
    def ask_ref(ctx: Context) -> None:
        """Ask for the reference; on Telegram also offer to share the phone number."""
        if ctx.conversation.channel == "telegram":
            ctx.say("identify.ask_ref_or_phone", buttons=(("button.share_phone", SHARE_CONTACT),))
        else:
            ctx.say("identify.ask_ref")

    def by_shared_contact(self, ctx: Context, turn: Turn) -> None:
        """The renter shared their own Telegram contact: a phone number Telegram vouches for.

        A phone on a booking of this tenant verifies like writing from that phone; the
        booking then continues here whichever channel the renter used before.
        """
        phone = normalise_phone(turn.text)
        customers = customers_by_phone(ctx.session, ctx.tenant.id, phone) if phone else []
        booking = current_booking(ctx.session, ctx.tenant.id, [c.id for c in customers], ctx.now)
        if booking is None:
            ctx.goto(self.name, "awaiting_ref", pending=ctx.flow_data("pending"))
            ctx.say("identify.phone_unknown")
            return
        self.verified(ctx, booking.customer_id, booking.id)

    def locked(self, ctx: Context) -> bool:
        """Refuse while the conversation is locked after failures."""
        until = ctx.conversation.locked_until
        if until is not None and until > ctx.now:
            ctx.say("identify.locked", buttons=STAFF_BUTTON)
            return True
        return False

    def by_sender_phone(self, ctx: Context) -> bool:
        """Verify at once when the sender's own phone is on a booking of this tenant."""
        conv = ctx.conversation
        if conv.channel not in ("sms", "whatsapp"):
            return False
        phone = normalise_phone(conv.address)
        customers = customers_by_phone(ctx.session, ctx.tenant.id, phone) if phone else []
        booking = current_booking(ctx.session, ctx.tenant.id, [c.id for c in customers], ctx.now)
        if booking is None:
            return False
        self.verified(ctx, booking.customer_id, booking.id, announce=False)
        return True

    def on_awaiting_ref(self, ctx: Context, turn: Turn) -> bool:
        """A booking reference: go on to the second factor, whether or not it exists."""
        ref = turn.entities.get("booking_ref")
        if not ref:
            return False
        booking = booking_by_ref(ctx.session, ctx.tenant.id, ref)
        ctx.goto(self.name, "awaiting_ref", candidate=booking.id if booking else None)
        if ctx.tenant.setting("allow_dob_identification"):
            ctx.goto(self.name, "awaiting_dob")
            if turn.entities.get("date"):
                return self.on_awaiting_dob(ctx, turn)
            ctx.say("identify.ask_dob")
            return True
        self.send_code(ctx, booking)
        return True

    def send_code(self, ctx: Context, booking: object | None) -> None:
        """Text a one-time code to the booking's phone (nothing goes out for an unknown ref)."""
        from bot.models import Booking

        ctx.goto(self.name, "awaiting_code", code_hash=None,
                 code_expires=(ctx.now + CODE_VALID).isoformat())
        if isinstance(booking, Booking) and booking.customer.phone:
            code = ctx.services.codes.new_code()
            ctx.goto(self.name, "awaiting_code", code_hash=_code_hash(ctx.conversation.id, code))
            ctx.send(Reply("identify.otp_sms", {"tenant": ctx.tenant.name, "code": code},
                           channel="sms", address=booking.customer.phone,
                           language=booking.customer.language))
        ctx.say("identify.code_sent")

    def on_awaiting_dob(self, ctx: Context, turn: Turn) -> bool:
        """Check the date of birth against the candidate booking."""
        if not turn.entities.get("date"):
            if turn.entities.get("booking_ref"):
                return self.on_awaiting_ref(ctx, turn)
            return False
        booking_id = ctx.flow_data("candidate")
        from bot.models import Booking

        booking = ctx.session.get(Booking, booking_id) if booking_id else None
        given = date.fromisoformat(turn.entities["date"])
        if (booking is not None and booking.tenant_id == ctx.tenant.id
                and booking.customer.birth_date == given.isoformat()):
            self.verified(ctx, booking.customer_id, booking.id)
        else:
            self.failed(ctx)
        return True

    def on_awaiting_code(self, ctx: Context, turn: Turn) -> bool:
        """Check the one-time code."""
        code = "".join(ch for ch in turn.text if ch.isdigit())
        if len(code) != 6:
            if turn.entities.get("booking_ref"):
                return self.on_awaiting_ref(ctx, turn)
            return False
        expires = datetime.fromisoformat(ctx.flow_data("code_expires"))
        if ctx.now > expires:
            ctx.goto(self.name, "awaiting_ref")
            ctx.say("identify.code_expired")
            return True
        expected = ctx.flow_data("code_hash")
        from bot.models import Booking

        booking = ctx.session.get(Booking, ctx.flow_data("candidate") or 0)
        if expected and booking and hmac.compare_digest(
                expected, _code_hash(ctx.conversation.id, code)):
            self.verified(ctx, booking.customer_id, booking.id)
        else:
            self.failed(ctx)
        return True

    def failed(self, ctx: Context) -> None:
        """Count a failure; lock after the last one and offer staff."""
        conv = ctx.conversation
        conv.failed_attempts += 1
        remaining = MAX_ATTEMPTS - conv.failed_attempts
        ctx.audit("identify.failed", "conversation", conv.id, attempt=conv.failed_attempts)
        if remaining > 0:
            ctx.say("identify.mismatch", remaining=remaining)
            return
        conv.locked_until = ctx.now + LOCK_FOR
        conv.failed_attempts = 0
        ctx.finish()
        ctx.say("identify.locked", buttons=STAFF_BUTTON)
        staff.escalate(ctx.session, ctx.tenant, conv, ctx.now, "identify_locked", hold=False)

    def verified(self, ctx: Context, customer_id: int, booking_id: int,
                 announce: bool = True) -> None:
        """Bind the conversation to the renter and resume what they asked for."""
        conv = ctx.conversation
        pending = ctx.flow_data("pending")
        conv.customer_id, conv.booking_id, conv.verified = customer_id, booking_id, True
        conv.failed_attempts = 0
        conv.locked_until = None
        ctx.finish()
        ctx.audit("identify.verified", "booking", booking_id, channel=conv.channel)
        if announce:
            booking = ctx.booking
            customer = ctx.customer
            first = (customer.name or "").split()[0] if customer and customer.name else ""
            ctx.say("identify.verified", name=first, ref=booking.ref if booking else "")
        if pending:
            ctx.resume_intent = pending
