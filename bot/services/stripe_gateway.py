"""Stripe behind the payment port: Checkout Sessions (card, TWINT), deposit holds.

The API version is pinned: `allowed_payment_method_types` belongs to it (older versions call
the field `payment_method_types`). Every create carries an idempotency key, so a request
retried after a timeout never makes a second session. Retries are Stripe's own: 5xx, 409 and
connection errors, with exponential backoff; a 4xx is final.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import stripe

from bot.services.payments import CheckoutLink, CheckoutRequest, PaymentError

log = logging.getLogger(__name__)
API_VERSION = "2026-10-28.endive"
LOCALES = {"de": "de", "fr": "fr", "it": "it", "en": "en", "rm": "de"}
ONLINE_METHODS = ["card", "twint"]
HOLD_METHODS = ["card"]  # TWINT cannot hold an authorisation


def rappen(amount_chf: Decimal) -> int:
    """CHF to the smallest unit Stripe counts in."""
    return int((Decimal(amount_chf) * 100).quantize(Decimal("1")))


def chf(rappen_amount: int | None) -> Decimal:
    """Rappen back to CHF."""
    return (Decimal(rappen_amount or 0) / 100).quantize(Decimal("0.01"))


def checkout_params(request: CheckoutRequest) -> dict[str, Any]:
    """The Checkout Session for one payment row, as Stripe's API takes it."""
    metadata = {"crms_tenant": str(request.tenant_id), "crms_payment": str(request.payment_id),
                "crms_booking": request.booking_ref,
                "crms_kind": "deposit" if request.hold else "rental"}
    name = f"{'Deposit' if request.hold else 'Rental'} {request.booking_ref}"
    intent: dict[str, Any] = {"metadata": metadata, "description": name}
    if request.hold:
        intent["capture_method"] = "manual"
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": "chf", "unit_amount": rappen(request.amount_chf),
            "product_data": {"name": name}}}],
        "allowed_payment_method_types": HOLD_METHODS if request.hold else ONLINE_METHODS,
        "locale": LOCALES.get(request.language, "auto"),
        "client_reference_id": f"{request.tenant_id}:{request.payment_id}",
        "metadata": metadata,
        "payment_intent_data": intent,
        "expires_at": int(request.expires_at.timestamp()),
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
    }
    if request.email:
        params["customer_email"] = request.email
    return params


class StripeGateway:
    """The payment port on Stripe's API (or a local server speaking it, for tests)."""

    name = "stripe"

    def __init__(self, secret_key: str, api_base: str | None = None, timeout: float = 10.0,
                 retries: int = 2) -> None:
        addresses = {"api": api_base.rstrip("/")} if api_base else None
        self.client = stripe.StripeClient(
            secret_key, stripe_version=API_VERSION, base_addresses=addresses,  # type: ignore[arg-type]
            max_network_retries=retries, http_client=stripe.RequestsClient(timeout=timeout))

    def create_checkout(self, request: CheckoutRequest, idempotency_key: str) -> CheckoutLink:
        """A Checkout Session in CHF on the tenant's account."""
        session = self._call(self.client.v1.checkout.sessions.create,
                             params=checkout_params(request),
                             options=self._options(request.account, idempotency_key))
        return CheckoutLink(session.url or "", session.id, request.expires_at)

    def capture(self, intent_ref: str, amount_chf: Decimal, account: str | None,
                idempotency_key: str) -> Decimal:
        """Capture part or all of a hold."""
        intent = self._call(self.client.v1.payment_intents.capture, intent_ref,
                            params={"amount_to_capture": rappen(amount_chf)},
                            options=self._options(account, idempotency_key))
        return chf(intent.amount_received)

    def release(self, intent_ref: str, account: str | None, idempotency_key: str) -> None:
        """Cancel the hold."""
        self._call(self.client.v1.payment_intents.cancel, intent_ref,
                   options=self._options(account, idempotency_key))

    @staticmethod
    def _options(account: str | None, idempotency_key: str) -> dict[str, Any]:
        options: dict[str, Any] = {"idempotency_key": idempotency_key}
        if account:
            options["stripe_account"] = account
        return options

    @staticmethod
    def _call(method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except stripe.StripeError as exc:
            status = exc.http_status
            transient = status is None or status >= 500 or status in (409, 429)
            log.warning("stripe %s failed: %s %s", getattr(method, "__name__", "call"), status,
                        exc.user_message or exc.__class__.__name__)
            raise PaymentError(exc.user_message or str(exc), transient, status) from exc
