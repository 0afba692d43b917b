"""The payment port, its errors and the sandbox implementation.

Stripe's adapter (`bot.services.stripe_gateway`) implements the same port; the sandbox keeps
its checkouts in memory and its page completes them through the same webhook code path.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class CheckoutRequest:
    """What a hosted checkout page is for.

    hold: a deposit, authorised on a card now and captured (or released) after the return.
    account: the tenant's own Stripe account (Connect), None for the platform account.
    """

    payment_id: int
    tenant_id: int
    booking_ref: str
    amount_chf: Decimal
    language: str
    expires_at: datetime
    success_url: str
    cancel_url: str
    hold: bool = False
    account: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class CheckoutLink:
    """A hosted payment page for one payment."""

    url: str
    provider_ref: str
    expires_at: datetime


class PaymentError(Exception):
    """The provider refused or could not be reached.

    transient: worth trying again later (timeouts, 5xx, rate limits); otherwise the request
    itself is wrong (4xx) and a person has to look.
    """

    def __init__(self, message: str, transient: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status


class PaymentGateway(Protocol):
    """Creates hosted checkouts and settles deposit holds."""

    name: str

    def create_checkout(self, request: CheckoutRequest, idempotency_key: str) -> CheckoutLink:
        """Create the checkout; the same key returns the same checkout (retries are safe).

        Raises:
            PaymentError: the provider refused or timed out.

        """
        ...

    def capture(self, intent_ref: str, amount_chf: Decimal, account: str | None,
                idempotency_key: str) -> Decimal:
        """Capture up to the authorised amount of a hold; returns what was captured."""
        ...

    def release(self, intent_ref: str, account: str | None, idempotency_key: str) -> None:
        """Cancel a hold: the renter's card is no longer charged."""
        ...


class SandboxPayments:
    """Payment links to the local sandbox payment page; nothing leaves the machine."""

    name = "sandbox"

    def __init__(self, public_url: str) -> None:
        self.public_url = public_url.rstrip("/")
        self.created: dict[str, CheckoutLink] = {}
        self.settled: dict[str, tuple[str, Decimal]] = {}  # intent -> (captured|released, CHF)

    def create_checkout(self, request: CheckoutRequest, idempotency_key: str) -> CheckoutLink:
        """A link to /sandbox/pay/<ref>; the same key gives the same link."""
        if idempotency_key not in self.created:
            ref = f"sbx_cs_{request.payment_id}_{secrets.token_hex(6)}"
            self.created[idempotency_key] = CheckoutLink(
                f"{self.public_url}/sandbox/pay/{ref}", ref, request.expires_at)
        return self.created[idempotency_key]

    def capture(self, intent_ref: str, amount_chf: Decimal, account: str | None,
                idempotency_key: str) -> Decimal:
        """Record the capture (the same intent twice keeps the first)."""
        return self.settled.setdefault(intent_ref, ("captured", amount_chf))[1]

    def release(self, intent_ref: str, account: str | None, idempotency_key: str) -> None:
        """Record the release."""
        self.settled.setdefault(intent_ref, ("released", Decimal("0")))
