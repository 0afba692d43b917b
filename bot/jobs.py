"""Thin RQ entry points, verb first; each builds the runtime once per worker process."""

from __future__ import annotations

import logging
import time

from bot.runtime import Runtime, build_runtime

_RUNTIME: Runtime | None = None


def set_runtime(runtime: Runtime | None) -> None:
    """Use this runtime for the jobs of this process (the worker builds it once)."""
    global _RUNTIME
    _RUNTIME = runtime


def runtime() -> Runtime:
    """The worker's runtime: the one set, else one built from the environment."""
    global _RUNTIME
    if _RUNTIME is None:
        _RUNTIME = build_runtime()
    return _RUNTIME


def process_inbound(conversation_id: int) -> int:
    """Handle a conversation's unprocessed messages and send its replies (one job, not two)."""
    return runtime().answer(conversation_id)


def drain_inbound(batch: int = 32, budget_seconds: float = 20.0) -> int:
    """Answer the conversations the webhooks queued in Redis, until none is left.

    After `budget_seconds` (RQ stops a job after 180 s) the rest goes to a new job.
    """
    rt = runtime()
    work = rt.work
    work.draining()
    handled = 0
    started = time.monotonic()
    while True:
        conversation_ids = work.take_inbound(batch)
        if not conversation_ids:
            return handled
        handled += rt.answer_batch(conversation_ids)
        if time.monotonic() - started > budget_seconds:
            work.queue_drain()
            return handled


def relay_outbox() -> int:
    """Send what is due in the outbox."""
    return runtime().relay.run_once()


def fire_reminders() -> int:
    """Turn due reminders into outbox rows."""
    return runtime().scheduler.run_once()


def read_licence(check_id: int, conversation_id: int, rt: Runtime | None = None) -> None:
    """OCR a licence photo (seconds of work), then let the licence flow continue."""
    from bot.models import LicenceCheck
    from bot.services.ocr import read_licence as ocr

    rt = rt or runtime()
    with rt.db.session() as s:
        check = s.get(LicenceCheck, check_id)
        image = check.image if check is not None else None
    failed = False
    try:
        reading = ocr(image) if image else None
    except Exception:  # noqa: BLE001 - OCR broken (no Tesseract?): a person reads it instead
        logging.getLogger(__name__).exception("licence check %s could not be read", check_id)
        reading, failed = None, True
    rt.engine.continue_flow(conversation_id, "licence", "read", check_id=check_id,
                            reading=reading.to_json() if reading else None, failed=failed)


def open_checkout(payment_id: int, conversation_id: int, language: str,
                  rt: Runtime | None = None) -> None:
    """Ask the payment provider for a checkout link, then let the payment flow send it."""
    from bot.payment_events import retry_waiting
    from bot.payments import create_link
    from bot.services.payments import PaymentError

    rt = rt or runtime()
    now = rt.services.clock.now()
    result = create_link(rt.db, rt.services.payments, payment_id, rt.services.public_url,
                         language, now)
    if result is None:
        return  # paid or expired meanwhile: nothing to send
    if isinstance(result, PaymentError):
        rt.engine.continue_flow(conversation_id, "payment", "link_ready", payment_id=payment_id,
                                ok=False, transient=result.transient, error=str(result))
        return
    rt.engine.continue_flow(conversation_id, "payment", "link_ready", payment_id=payment_id,
                            ok=True)
    retry_waiting(rt.db, now)  # an event that overtook this link can apply now


def settle_deposit(payment_id: int, action: str, amount: str | None, author: str,
                   rt: Runtime | None = None) -> str:
    """Capture or release a deposit hold at the payment provider (a staff command)."""
    from decimal import Decimal

    from bot.payments import settle_deposit as settle

    rt = rt or runtime()
    done = settle(rt.db, rt.services.payments, payment_id, action,
                  Decimal(amount) if amount is not None else None, author,
                  rt.services.clock.now())
    rt.work.wake_outbox()
    return done


def send_qr_bill(payment_id: int, conversation_id: int, language: str,
                 rt: Runtime | None = None) -> None:
    """Render a QR-bill PDF (a fraction of a second), then let the payment flow send it."""
    from bot.billing import store_pdf

    rt = rt or runtime()
    with rt.db.session() as s:
        from bot.models import Payment

        bill = s.get(Payment, payment_id)
        if bill is None or bill.status != "open":
            return
        document_id = store_pdf(s, bill, language, rt.services.clock.now()).id
    rt.engine.continue_flow(conversation_id, "payment", "bill_ready", payment_id=payment_id,
                            document_id=document_id)
