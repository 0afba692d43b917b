"""Payment: what is open and paid, and a payment link (card, TWINT) sent once and re-sent.

pay_online opens a checkout through the payment port; a second request while the link is
open sends the same link again. The QR-bill arrives with its own issue.
"""

from __future__ import annotations

from bot.i18n import format_when
from bot.payments import open_amount, open_checkout, paid_amount
from flows.base import Context, Flow, Turn


class PaymentFlow(Flow):
    """payment_status, pay_online, pay_qr_bill."""

    name = "payment"
    intents = ("payment_status", "pay_online", "pay_qr_bill")
    needs_booking = True

    def start(self, ctx: Context, turn: Turn) -> None:
        """Answer the payment question."""
        getattr(self, turn.intent)(ctx)

    def payment_status(self, ctx: Context) -> None:
        """Open and paid amounts."""
        booking = ctx.booking
        assert booking is not None
        due = open_amount(ctx.session, booking)
        methods = (("button.pay_online", "/pay_online"), ("button.pay_qr", "/pay_qr_bill"))
        ctx.say("payment.status", ref=booking.ref, amount=due,
                paid=paid_amount(ctx.session, booking), buttons=methods if due > 0 else ())

    def pay_online(self, ctx: Context) -> None:
        """Send the payment link (the same one while it is open)."""
        booking = ctx.booking
        assert booking is not None
        checkout = open_checkout(ctx.session, booking, ctx.services.payments, ctx.language,
                                 ctx.now)
        if checkout is None:
            ctx.say("payment.nothing_due", ref=booking.ref)
            return
        payment = checkout.payment
        assert payment.expires_at is not None
        ctx.say("payment.link", ref=booking.ref, amount=payment.amount_chf, url=payment.url,
                until=format_when(payment.expires_at, ctx.language, ctx.tenant.setting("timezone")))
        ctx.audit("payment.link_sent", "payment", payment.id, reused=checkout.reused)

    def pay_qr_bill(self, ctx: Context) -> None:
        """No QR-bill yet: offer the online payment."""
        booking = ctx.booking
        assert booking is not None
        ctx.say("payment.qr_unavailable", amount=open_amount(ctx.session, booking))
