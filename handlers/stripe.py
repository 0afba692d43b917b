"""Stripe: the signed webhook, and the pages the checkout returns the renter to.

The webhook verifies, records the event id once and applies it; it answers 400 on a bad
signature and 200 for everything it has taken (applied, waiting for its payment row, ignored,
duplicate), so Stripe only retries what we did not take.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, jsonify, render_template, request

from bot import metrics
from bot.i18n import LANGUAGES, format_when, translate
from bot.models import Booking, Payment
from bot.payment_events import BadSignature, receive, verify
from bot.payments import payment_of_token

log = logging.getLogger(__name__)
bp = Blueprint("stripe", __name__, url_prefix="/webhooks/stripe")
pages = Blueprint("pay_pages", __name__, url_prefix="/pay")
MAX_EVENT_BYTES = 512 * 1024


def _reject(code: int, reason: str) -> None:
    metrics.WEBHOOKS_REJECTED.labels("stripe", reason.split(":")[0][:40]).inc()
    log.warning("stripe webhook rejected: %s", reason)
    abort(code, description=reason)


@bp.post("")
def webhook():  # type: ignore[no-untyped-def]
    """A Stripe event: checked with stripe.Webhook.construct_event, applied once."""
    runtime = current_app.extensions["crms"]
    secret = runtime.config.stripe_webhook_key()
    if secret is None:
        log.error("STRIPE_WEBHOOK_SECRET is unset: Stripe events cannot be verified")
        abort(503, description="webhook secret not configured")
    if (request.content_length or 0) > MAX_EVENT_BYTES:
        _reject(413, "event too large")
    try:
        event = verify(request.get_data(cache=False), request.headers.get("Stripe-Signature"),
                       secret)
    except BadSignature as exc:
        _reject(400, f"bad signature: {exc}")
    outcome = receive(runtime.db, event, runtime.services.clock.now())
    runtime.work.wake_outbox()
    return jsonify(received=True, outcome=outcome)


@pages.get("/<token>/<result>")
def returned(token: str, result: str):  # type: ignore[no-untyped-def]
    """Where Stripe sends the renter back: what happened, in the renter's language."""
    if result not in ("done", "cancelled"):
        abort(404)
    payment_id = payment_of_token(token)
    if payment_id is None:
        abort(404, description="unknown payment")
    language = request.args.get("lang", "de")
    language = language if language in LANGUAGES else "de"
    runtime = current_app.extensions["crms"]
    with runtime.db.session() as s:
        payment = s.get(Payment, payment_id)
        booking = s.get(Booking, payment.booking_id) if payment else None
        if payment is None or booking is None:
            abort(404, description="unknown payment")
        if result == "cancelled":
            key = "paypage.cancelled"
        elif payment.status == "paid":
            key = "paypage.done"
        elif payment.status in ("authorised", "captured", "released"):
            key = "paypage.held"
        else:
            key = "paypage.processing"
        until = format_when(payment.expires_at, language) if payment.expires_at else "-"
        text = translate(key, language, ref=booking.ref, until=until)
    return render_template("pay/result.html", language=language, text=text,
                           title=translate("paypage.title", language),
                           back=translate("paypage.back", language))
