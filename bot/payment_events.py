"""Stripe events: verified, recorded once, applied to our payment rows.

Each event id is claimed with a unique row (never check-then-insert), so Stripe's retries and
replays change nothing. An event about a payment we cannot see yet (its row not committed, or
its payment intent not recorded) waits with its payload and is applied when the row is there;
one that breaks our code is kept the same way rather than lost.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import metrics
from bot.models import Payment, ProcessedEvent
from bot.payments import audit, record_hold, record_outcome, tell_renter, tell_staff
from bot.services.stripe_gateway import chf

log = logging.getLogger(__name__)
SOURCE = "stripe"
TOLERANCE_SECONDS = 300  # an older signature is a replay
GIVE_UP_AFTER = timedelta(days=3)  # Stripe stops retrying after three days too
ACTOR = "stripe"


class BadSignature(ValueError):
    """The payload is not signed with our webhook secret (or too old, or not JSON)."""


def verify(payload: bytes, header: str | None, secret: str) -> dict[str, Any]:
    """The event, once its `Stripe-Signature` is checked with `stripe.Webhook`."""
    if not header:
        raise BadSignature("missing Stripe-Signature header")
    try:
        stripe.Webhook.construct_event(payload.decode("utf-8"), header, secret,
                                       tolerance=TOLERANCE_SECONDS)
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError) as exc:
        raise BadSignature(str(exc).split("\n")[0][:200]) from exc
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise BadSignature("not a Stripe event")
    return event


def sign(payload: bytes, secret: str, at: int | None = None) -> str:
    """A `Stripe-Signature` header for a payload, the way Stripe makes it (sandbox, tests)."""
    timestamp = at if at is not None else int(datetime.now(timezone.utc).timestamp())
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload,
                         hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"


def receive(db: Any, event: dict[str, Any], now: datetime) -> str:
    """Claim the event id and apply it; returns applied, waiting, ignored or duplicate."""
    try:
        with db.session() as s:
            record = ProcessedEvent(source=SOURCE, event_id=str(event["id"])[:128],
                                    created_at=now)
            s.add(record)
            s.flush()
            outcome = apply(s, event, now)
            if outcome == "waiting":
                record.state, record.payload = "waiting", event
    except IntegrityError:
        metrics.DUPLICATES.labels("stripe").inc()
        return "duplicate"
    except Exception:  # noqa: BLE001 - our bug: keep the event for a retry, never lose it
        log.exception("stripe event %s (%s) failed; kept for a retry", event.get("id"),
                      event.get("type"))
        try:
            with db.session() as s:
                s.add(ProcessedEvent(source=SOURCE, event_id=str(event["id"])[:128],
                                     state="failed", payload=event, created_at=now))
        except IntegrityError:
            return "duplicate"
        return "failed"
    log.info("stripe event %s %s: %s", event["id"], event["type"], outcome)
    return outcome


def retry_waiting(db: Any, now: datetime) -> int:
    """Apply the events that waited for their payment row; returns how many got applied."""
    with db.session() as s:
        ids = list(s.scalars(select(ProcessedEvent.id).where(
            ProcessedEvent.source == SOURCE, ProcessedEvent.state.in_(("waiting", "failed")))
            .order_by(ProcessedEvent.id).limit(100)))
    applied = 0
    for record_id in ids:
        try:
            with db.session() as s:
                record = s.get(ProcessedEvent, record_id, with_for_update=db.is_postgres)
                if record is None or record.state not in ("waiting", "failed") or not record.payload:
                    continue
                outcome = apply(s, record.payload, now)
                if outcome != "waiting":
                    record.state, record.payload, applied = "done", None, applied + 1
                elif record.created_at < now - GIVE_UP_AFTER:
                    record.state = "unmatched"
                    log.warning("stripe event %s matched no payment in 3 days", record.event_id)
        except Exception:  # noqa: BLE001 - the next tick tries again
            log.exception("stripe event row %s still fails", record_id)
    return applied


def apply(session: Session, event: dict[str, Any], now: datetime) -> str:
    """Apply one event to our records (in the caller's transaction)."""
    handler = HANDLERS.get(str(event.get("type")))
    if handler is None:
        return "ignored"
    obj = (event.get("data") or {}).get("object") or {}
    found = find_payment(session, obj, event.get("account"))
    if isinstance(found, str):  # another tenant's or account's: never applied
        return "ignored"
    if found is None:
        return "waiting"
    return "applied" if handler(session, found, obj, _moment(event, now), now) else "unchanged"


def find_payment(session: Session, obj: dict[str, Any], account: str | None,
                 ) -> Payment | str | None:
    """Our payment row the object is about; "foreign" when it names another tenant's account."""
    metadata = obj.get("metadata") or {}
    payment: Payment | None = None
    if str(metadata.get("crms_payment", "")).isdigit():
        payment = session.get(Payment, int(metadata["crms_payment"]))
        if payment is not None and str(payment.tenant_id) != str(metadata.get("crms_tenant")):
            log.warning("stripe event names payment %s of another tenant", payment.id)
            return "foreign"
    else:
        intent = obj.get("id") if obj.get("object") == "payment_intent" \
            else obj.get("payment_intent")
        if intent:
            payment = session.scalar(select(Payment).where(Payment.intent_ref == str(intent)))
    if payment is not None and (payment.account or None) != (account or None):
        log.warning("stripe event from account %s for payment %s of account %s ignored",
                    account, payment.id, payment.account)
        return "foreign"
    return payment


def _moment(event: dict[str, Any], now: datetime) -> datetime:
    created = event.get("created")
    return datetime.fromtimestamp(int(created), timezone.utc) if created else now


def _paid_with(obj: dict[str, Any]) -> str:
    types = obj.get("payment_method_types") or []
    return str(types[0]) if len(types) == 1 else "online"


def session_completed(s: Session, payment: Payment, obj: dict[str, Any], at: datetime,
                      now: datetime) -> bool:
    """checkout.session.completed: paid, pending (asynchronous method) or a deposit held."""
    if obj.get("payment_intent"):
        payment.intent_ref = str(obj["payment_intent"])
    if obj.get("id") and not payment.provider_ref:
        payment.provider_ref = str(obj["id"])
    if payment.kind == "deposit":
        return record_hold(s, payment, payment.intent_ref, at, now, ACTOR)
    if obj.get("payment_status") in ("paid", "no_payment_required"):
        return record_outcome(s, payment, True, now, ACTOR, paid_with=_paid_with(obj))
    if payment.status in ("creating", "open"):
        payment.status, payment.updated_at = "pending", now
        audit(s, payment, ACTOR, "payment.pending", now)
        return True
    return False


def async_succeeded(s: Session, payment: Payment, obj: dict[str, Any], at: datetime,
                    now: datetime) -> bool:
    """checkout.session.async_payment_succeeded."""
    return record_outcome(s, payment, True, now, ACTOR, paid_with=_paid_with(obj))


def async_failed(s: Session, payment: Payment, obj: dict[str, Any], at: datetime,
                 now: datetime) -> bool:
    """checkout.session.async_payment_failed."""
    return record_outcome(s, payment, False, now, ACTOR)


def session_expired(s: Session, payment: Payment, obj: dict[str, Any], at: datetime,
                    now: datetime) -> bool:
    """checkout.session.expired: the link is dead; the next request makes a new one."""
    if payment.status not in ("creating", "open"):
        return False
    payment.status, payment.updated_at = "expired", now
    return True


def capturable(s: Session, payment: Payment, obj: dict[str, Any], at: datetime,
               now: datetime) -> bool:
    """payment_intent.amount_capturable_updated: the deposit is held on the card."""
    if payment.kind != "deposit":
        return False
    created = obj.get("created")
    held_at = datetime.fromtimestamp(int(created), timezone.utc) if created else at
    return record_hold(s, payment, str(obj.get("id") or ""), held_at, now, ACTOR)


def intent_canceled(s: Session, payment: Payment, obj: dict[str, Any], at: datetime,
                    now: datetime) -> bool:
    """payment_intent.canceled: a hold released by us, or lapsed at the bank."""
    if payment.kind != "deposit" or payment.status not in ("authorised", "releasing", "capturing"):
        return False
    lapsed = obj.get("cancellation_reason") == "automatic"
    payment.status, payment.updated_at = ("lapsed" if lapsed else "released"), now
    audit(s, payment, ACTOR, f"deposit.{payment.status}", now)
    if lapsed:
        tell_staff(s, payment, "staff.deposit_lapsed", now)
    return True


def intent_succeeded(s: Session, payment: Payment, obj: dict[str, Any], at: datetime,
                     now: datetime) -> bool:
    """payment_intent.succeeded: a captured deposit, or a rental paid (if not yet known)."""
    if payment.kind == "deposit":
        if payment.status not in ("authorised", "capturing"):
            return False
        payment.status, payment.updated_at = "captured", now
        payment.captured_chf = chf(obj.get("amount_received"))
        audit(s, payment, ACTOR, "deposit.captured", now, captured_chf=str(payment.captured_chf))
        return True
    return record_outcome(s, payment, True, now, ACTOR, paid_with=_paid_with(obj))


def refunded(s: Session, payment: Payment, obj: dict[str, Any], at: datetime,
             now: datetime) -> bool:
    """charge.refunded: what went back to the renter (partly or all)."""
    total = chf(obj.get("amount_refunded"))
    before = Decimal(payment.refunded_chf or 0)
    if total <= before:
        return False
    payment.refunded_chf, payment.updated_at = total, now
    audit(s, payment, ACTOR, "payment.refunded", now, refunded_chf=str(total))
    tell_renter(s, payment, "payment.refunded", now, refund=total - before)
    return True


def dispute_created(s: Session, payment: Payment, obj: dict[str, Any], at: datetime,
                    now: datetime) -> bool:
    """charge.dispute.created: staff must answer with evidence before the deadline."""
    from bot.i18n import format_when
    from bot.models import Tenant

    if payment.disputed_at is not None:
        return False
    payment.disputed_at, payment.updated_at = now, now
    due = ((obj.get("evidence_details") or {}).get("due_by"))
    tenant = s.get(Tenant, payment.tenant_id)
    assert tenant is not None
    until = format_when(datetime.fromtimestamp(int(due), timezone.utc),
                        tenant.default_language, tenant.setting("timezone")) if due else "-"
    audit(s, payment, ACTOR, "payment.disputed", now, reason=str(obj.get("reason") or "-"))
    tell_staff(s, payment, "staff.dispute", now, disputed=chf(obj.get("amount")),
               reason=str(obj.get("reason") or "-"), until=until)
    return True


Handler = Callable[[Session, Payment, dict[str, Any], datetime, datetime], bool]
HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": session_completed,
    "checkout.session.async_payment_succeeded": async_succeeded,
    "checkout.session.async_payment_failed": async_failed,
    "checkout.session.expired": session_expired,
    "payment_intent.amount_capturable_updated": capturable,
    "payment_intent.canceled": intent_canceled,
    "payment_intent.succeeded": intent_succeeded,
    "charge.refunded": refunded,
    "charge.dispute.created": dispute_created,
}


def sandbox_event(payment: Payment, action: str, now: datetime) -> dict[str, Any]:
    """The event Stripe would send when a renter acts on the checkout page (sandbox mode).

    action: card, twint (pay the rental), hold (authorise a deposit) or fail.
    """
    metadata = {"crms_tenant": str(payment.tenant_id), "crms_payment": str(payment.id),
                "crms_kind": payment.kind}
    completed = {
        "id": payment.provider_ref, "object": "checkout.session", "metadata": metadata,
        "payment_intent": payment.intent_ref or f"sbx_pi_{payment.id}",
        "amount_total": int(Decimal(payment.amount_chf) * 100), "currency": "chf",
        "payment_status": "unpaid" if action == "hold" else "paid",
        "payment_method_types": ["card" if action in ("card", "hold") else "twint"]}
    kind = "checkout.session.completed"
    if action == "fail":
        kind, completed["payment_status"] = "checkout.session.async_payment_failed", "unpaid"
    return {"id": f"evt_sbx_{secrets.token_hex(8)}", "object": "event", "type": kind,
            "created": int(now.timestamp()), "account": payment.account,
            "livemode": False, "data": {"object": completed}}
