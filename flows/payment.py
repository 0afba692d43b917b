"""Payment: what is open and paid, a payment link (card, TWINT), a deposit hold (card only).

pay_online and pay_deposit commit a payment row, then a job asks the provider for the
checkout (never inside the turn: Stripe can take seconds) and comes back with `link_ready`.
A second request while the link is open sends the same link again.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from bot.billing import issue_bill
from bot.i18n import format_day, format_when, translate
from bot.messages import MsgKey, Reply
from bot.models import Payment
from bot.payments import deposit_of, open_amount, paid_amount, payments_of, request_checkout
from bot.qrbills import QrBillError
from bot.rendering import render_params
from flows.base import Context, Flow, Turn

DEPOSIT_WORDS = re.compile(r"\b(kaution|depot|caution|d[ée]p[ôo]t|cauzione|deposit)\b", re.I)
TWINT = re.compile(r"\btwint\b", re.I)
PAY_WORDS = re.compile(r"\b(pay|zahlen|bezahlen|hinterlegen|leisten|payer|régler|verser|pagare|"
                       r"versare|reserve|reservieren|réserver|riservare)\b", re.I)
DEPOSIT_BUTTON = (("button.pay_deposit", "/pay_deposit"),)
LINK_KEYS = {"rental": "payment.link", "deposit": "payment.deposit_link"}


def asks_deposit_by_twint(text: str) -> bool:
    """True for a deposit asked about by TWINT ('Kann ich die Kaution mit TWINT zahlen?')."""
    return bool(DEPOSIT_WORDS.search(text) and TWINT.search(text))


def wants_to_pay(text: str) -> bool:
    """True when the renter wants to pay (or hold) rather than ask about it."""
    return bool(PAY_WORDS.search(text))


class PaymentFlow(Flow):
    """payment_status, pay_online, pay_deposit, pay_qr_bill."""

    name = "payment"
    intents = ("payment_status", "pay_online", "pay_deposit", "pay_qr_bill")
    needs_booking = True

    def start(self, ctx: Context, turn: Turn) -> None:
        """Answer the payment question."""
        if turn.intent == "pay_online" and asks_deposit_by_twint(turn.text):
            ctx.say("payment.deposit_no_twint", buttons=DEPOSIT_BUTTON)
            return
        if turn.intent == "pay_online" and DEPOSIT_WORDS.search(turn.text):
            self.checkout(ctx, "deposit")
            return
        if turn.intent == "pay_online":
            self.checkout(ctx, "rental")
        elif turn.intent == "pay_deposit":
            self.checkout(ctx, "deposit")
        else:
            getattr(self, turn.intent)(ctx)

    def payment_status(self, ctx: Context) -> None:
        """Open and paid amounts, how it was paid, what is in progress, the deposit."""
        booking = ctx.booking
        assert booking is not None
        due = open_amount(ctx.session, booking)
        lines = [self._line(ctx, p) for p in payments_of(ctx.session, booking)]
        details = "".join(f"\n{line}" for line in lines if line)
        methods = (("button.pay_online", "/pay_online"), ("button.pay_qr", "/pay_qr_bill"))
        ctx.say("payment.status", ref=booking.ref, amount=due,
                paid=paid_amount(ctx.session, booking), details=details,
                buttons=methods if due > 0 else ())

    @staticmethod
    def _line(ctx: Context, payment: Payment) -> str | None:
        """One line of the status about one payment (None for links nobody used)."""
        params: dict[str, Any] = {"amount": Decimal(payment.amount_chf),
                                  "method": MsgKey(f"method.{payment.paid_with or 'online'}"),
                                  "when": format_when(payment.updated_at, ctx.language,
                                                      ctx.tenant.setting("timezone"))}
        if payment.kind == "deposit":
            if payment.status not in ("authorised", "captured", "released", "lapsed"):
                return None
            params["state"] = MsgKey(f"deposit.state.{payment.status}")
            params["captured"] = Decimal(payment.captured_chf or 0)
            key = ("payment.status_deposit_captured" if payment.status == "captured"
                   else "payment.status_deposit")
        elif payment.status == "paid":
            key = "payment.status_paid"
            if payment.refunded_chf:
                params["refund"] = Decimal(payment.refunded_chf)
                key = "payment.status_refunded"
        elif payment.status == "pending":
            key = "payment.status_pending"
        elif payment.method == "qrbill" and payment.status == "open" and payment.expires_at:
            params["when"] = format_day(payment.expires_at.date(), ctx.language)
            key = "payment.status_bill"
        else:
            return None
        return translate(key, ctx.language, **render_params(params, ctx.language))

    def checkout(self, ctx: Context, kind: str) -> None:
        """Send the link (the same one while it is open), or have the job make it."""
        booking = ctx.booking
        assert booking is not None
        checkout = request_checkout(ctx.session, booking, kind, ctx.services.payments.name,
                                    ctx.now)
        if checkout is None:
            if kind == "deposit":
                held = deposit_of(ctx.session, booking)
                ctx.say("payment.deposit_held_already" if held else "payment.deposit_none",
                        ref=booking.ref)
            else:
                ctx.say("payment.nothing_due", ref=booking.ref)
            return
        if checkout.ready:
            self._send_link(ctx, checkout.payment, reused=True)
        else:
            ctx.run_job("open_checkout", checkout.payment.id, ctx.conversation.id, ctx.language)

    def on_event_link_ready(self, ctx: Context, payment_id: int, ok: bool,
                            transient: bool = True, error: str = "") -> None:
        """The provider answered: send the link, or say it cannot be made now."""
        payment = ctx.session.get(Payment, payment_id)
        if payment is None or payment.tenant_id != ctx.tenant.id:
            return
        if ok and payment.status == "open" and payment.url:
            self._send_link(ctx, payment, reused=False)
        elif not ok:
            ctx.say("payment.unavailable")
            if not transient:  # our request was refused: a person has to look
                ctx.notify_staff("staff.payment_problem", ref=ctx.booking.ref if ctx.booking
                                 else "-", error=error[:300])

    @staticmethod
    def _send_link(ctx: Context, payment: Payment, reused: bool) -> None:
        assert payment.expires_at is not None
        booking = ctx.booking
        ctx.say(LINK_KEYS[payment.kind], ref=booking.ref if booking else "-",
                amount=Decimal(payment.amount_chf), url=payment.url,
                until=format_when(payment.expires_at, ctx.language, ctx.tenant.setting("timezone")))
        ctx.audit("payment.link_sent", "payment", payment.id, reused=reused, kind=payment.kind)

    def pay_qr_bill(self, ctx: Context) -> None:
        """A QR-bill PDF for what is open (the same bill while it is open), made by a job."""
        booking = ctx.booking
        assert booking is not None
        try:
            bill = issue_bill(ctx.session, booking, ctx.now)
        except QrBillError as exc:
            ctx.say("payment.qr_unavailable", amount=open_amount(ctx.session, booking))
            ctx.notify_staff("staff.qr_problem", ref=booking.ref, error=str(exc)[:300])
            return
        if bill is None:
            ctx.say("payment.nothing_due", ref=booking.ref)
            return
        ctx.run_job("send_qr_bill", bill.id, ctx.conversation.id, ctx.language)

    def on_event_bill_ready(self, ctx: Context, payment_id: int, document_id: int) -> None:
        """The PDF is made: send it (a document on Telegram and WhatsApp, a link by SMS)."""
        bill = ctx.session.get(Payment, payment_id)
        booking = ctx.booking
        if bill is None or bill.tenant_id != ctx.tenant.id or booking is None \
                or bill.status != "open":
            return
        assert bill.expires_at is not None
        ctx.send(Reply("payment.qr_bill", {
            "ref": booking.ref, "amount": Decimal(bill.amount_chf),
            "due": format_day(bill.expires_at.date(), ctx.language),
            "reference": bill.reference}, document_id=document_id))
        ctx.audit("payment.qr_bill_sent", "payment", bill.id)
