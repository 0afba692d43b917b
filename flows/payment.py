"""Payment: what is open and what is paid; how to pay until online payment is live."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from bot.i18n import format_money
from bot.models import Payment
from flows.base import Context, Flow, Turn


class PaymentFlow(Flow):
    """payment_status, pay_online, pay_qr_bill."""

    name = "payment"
    intents = ("payment_status", "pay_online", "pay_qr_bill")
    needs_booking = True

    def start(self, ctx: Context, turn: Turn) -> None:
        """Tell the open and paid amounts, or how to pay."""
        booking = ctx.booking
        assert booking is not None
        paid = ctx.session.scalar(select(func.coalesce(func.sum(Payment.amount_chf), 0)).where(
            Payment.tenant_id == ctx.tenant.id, Payment.booking_id == booking.id,
            Payment.kind == "rental", Payment.status == "paid")) or Decimal("0")
        open_amount = max(Decimal("0"), Decimal(booking.amount_due_chf) - Decimal(paid))
        if turn.intent == "payment_status":
            ctx.say("payment.status", ref=booking.ref, amount=format_money(open_amount, ctx.language),
                    paid=format_money(paid, ctx.language))
        else:
            ctx.say("payment.at_counter", amount=format_money(open_amount, ctx.language))
