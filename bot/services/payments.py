"""The payment port and its sandbox implementation (Stripe's adapter plugs in behind it)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class CheckoutLink:
    """A hosted payment page for one payment."""

    url: str
    provider_ref: str
    expires_at: datetime


class PaymentGateway(Protocol):
    """Creates hosted checkout pages.

    Args:
        payment_id: our payment row, carried as metadata.
        amount_chf: the amount to pay.
        language: the renter's language for the page.
        description: what is paid (booking reference).
        idempotency_key: a retried call with the same key returns the same checkout.
        expires_at: when the link stops working.

    Returns:
        CheckoutLink with the URL to send in chat.

    """

    name: str

    def create_checkout(self, *, payment_id: int, amount_chf: Decimal, language: str,
                        description: str, idempotency_key: str,
                        expires_at: datetime) -> CheckoutLink:
        """Create (or return the already created) checkout."""
        ...


class SandboxPayments:
    """Payment links to the local sandbox payment page; nothing leaves the machine."""

    name = "sandbox"

    def __init__(self, public_url: str) -> None:
        self.public_url = public_url.rstrip("/")
        self.created: dict[str, CheckoutLink] = {}

    def create_checkout(self, *, payment_id: int, amount_chf: Decimal, language: str,
                        description: str, idempotency_key: str,
                        expires_at: datetime) -> CheckoutLink:
        """A link to /sandbox/pay/<ref>; the same key gives the same link."""
        if idempotency_key not in self.created:
            ref = f"sbx_cs_{payment_id}_{secrets.token_hex(6)}"
            self.created[idempotency_key] = CheckoutLink(
                f"{self.public_url}/sandbox/pay/{ref}", ref, expires_at)
        return self.created[idempotency_key]
