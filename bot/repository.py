"""Tenant-scoped queries: every look-up of renter data takes the tenant first."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta

import phonenumbers
from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from bot import crypto
from bot.db import among
from bot.models import Booking, Conversation, Customer, Tenant


@functools.lru_cache(maxsize=4096)
def normalise_phone(raw: str, region: str = "CH") -> str | None:
    """E.164 form of a phone number, or None when it is not one (every webhook asks)."""
    raw = raw.removeprefix("whatsapp:").strip()
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def tenant_by_slug(session: Session, slug: str) -> Tenant | None:
    """The tenant with this slug."""
    return session.scalar(select(Tenant).where(Tenant.slug == slug))


def tenant_by_number(session: Session, number: str) -> Tenant | None:
    """The tenant owning this SMS or WhatsApp number."""
    number = number.removeprefix("whatsapp:")
    return session.scalar(select(Tenant).where(
        (Tenant.sms_number == number) | (Tenant.whatsapp_number == number)))


def booking_by_ref(session: Session, tenant_id: int, ref: str) -> Booking | None:
    """A booking of this tenant by reference; another tenant's booking is never found."""
    return session.scalar(select(Booking).where(
        Booking.tenant_id == tenant_id, Booking.ref == ref.upper()))


def customers_by_phone(session: Session, tenant_id: int, phone: str) -> list[Customer]:
    """The renters of this tenant with this phone number.

    Every first message asks, mostly about numbers that are on no booking: the ids come from
    one prepared Core query, and only found renters are loaded.
    """
    ids = session.connection().execute(_CUSTOMER_IDS_BY_PHONE, {
        "tenant_id": tenant_id, "digest": crypto.lookup_hash(phone)}).scalars().all()
    return customers_by_id(session, ids)


def customers_by_id(session: Session, ids: Sequence[int]) -> list[Customer]:
    """These renters, in this order (those still there)."""
    return [customer for customer in (session.get(Customer, i) for i in ids) if customer]


def customer_ids_by_phones(session: Session,
                           phones: list[tuple[int, str]]) -> dict[tuple[int, str], list[int]]:
    """`customers_by_phone`'s ids for many (tenant id, phone) pairs, in one query.

    Every pair asked is a key of the answer; pairs with no renter map to an empty list.
    """
    keys = {(tenant_id, crypto.lookup_hash(phone)): (tenant_id, phone)
            for tenant_id, phone in phones}
    found: dict[tuple[int, str], list[int]] = {pair: [] for pair in keys.values()}
    if not keys:
        return found
    rows = session.connection().execute(_CUSTOMERS_BY_PHONES, {
        "tenants": sorted({tenant_id for tenant_id, _ in keys}),
        "digests": sorted({digest for _, digest in keys})})
    for customer_id, tenant_id, digest in rows:
        pair = keys.get((tenant_id, digest))
        if pair is not None:
            found[pair].append(customer_id)
    return found


_CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
_CUSTOMERS_BY_PHONES = select(
    _CUSTOMERS.c.id, _CUSTOMERS.c.tenant_id, _CUSTOMERS.c.phone_hash).where(
    among(_CUSTOMERS.c.tenant_id, "tenants"), among(_CUSTOMERS.c.phone_hash, "digests"),
    _CUSTOMERS.c.erased_at.is_(None)).order_by(_CUSTOMERS.c.id)
_CUSTOMER_IDS_BY_PHONE = select(_CUSTOMERS.c.id).where(
    _CUSTOMERS.c.tenant_id == bindparam("tenant_id"),
    _CUSTOMERS.c.phone_hash == bindparam("digest"),
    _CUSTOMERS.c.erased_at.is_(None)).order_by(_CUSTOMERS.c.id)


def current_booking(session: Session, tenant_id: int, customer_ids: list[int],
                    now: datetime) -> Booking | None:
    """The renter's next or running booking (not cancelled, not long returned)."""
    if not customer_ids:
        return None
    return session.scalar(select(Booking).where(
        Booking.tenant_id == tenant_id, Booking.customer_id.in_(customer_ids),
        Booking.status != "cancelled", Booking.return_at >= now - timedelta(days=1),
    ).order_by(Booking.pickup_at).limit(1))


def conversations_of_customer(session: Session, tenant_id: int,
                              customer_id: int) -> list[Conversation]:
    """The renter's conversations with this tenant, most recent first."""
    return conversations_of_customers(session, tenant_id, [customer_id]).get(customer_id, [])


def conversations_of_customers(session: Session, tenant_id: int,
                               customer_ids: list[int]) -> dict[int, list[Conversation]]:
    """Each renter's conversations with this tenant, most recent first (one query)."""
    found: dict[int, list[Conversation]] = {}
    for conv in session.scalars(select(Conversation).where(
            Conversation.tenant_id == tenant_id, Conversation.customer_id.in_(customer_ids),
    ).order_by(Conversation.last_inbound_at.desc().nulls_last(), Conversation.id.desc())):
        found.setdefault(conv.customer_id, []).append(conv)  # type: ignore[arg-type]
    return found
