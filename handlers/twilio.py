"""Twilio webhooks: inbound WhatsApp and SMS, and delivery status callbacks.

Parse, verify the signature, record, enqueue, answer empty TwiML: replies never go inline.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator

from bot import metrics
from bot.delivery_status import FAILED, record_callback
from bot.engine import UnknownTenant
from bot.messages import InboundMessage, Media
from bot.whatsapp import OUTSIDE_WINDOW_ERROR

log = logging.getLogger(__name__)
bp = Blueprint("twilio", __name__, url_prefix="/webhooks/twilio")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
MAX_MEDIA = 10


@bp.before_request
def verify_signature() -> None:
    """403 unless X-Twilio-Signature matches CRMS_PUBLIC_URL + path with our auth token."""
    config = current_app.extensions["crms"].config
    signature = request.headers.get("X-Twilio-Signature", "")
    if not config.twilio_auth_token or not signature:
        _reject(403, "unsigned" if config.twilio_auth_token else "twilio not configured")
    url = config.public_url + request.full_path.rstrip("?")
    if not RequestValidator(config.twilio_auth_token).validate(url, request.form.to_dict(),
                                                              signature):
        _reject(403, "bad signature")


def _reject(code: int, reason: str) -> None:
    metrics.WEBHOOKS_REJECTED.labels("twilio", reason).inc()
    log.warning("twilio webhook %s rejected: %s", request.path, reason)
    abort(code, description=reason)


@bp.post("")
def inbound():  # type: ignore[no-untyped-def]
    """A renter's WhatsApp or SMS message."""
    form = request.form
    sender, sid = form.get("From", ""), form.get("MessageSid") or form.get("SmsSid", "")
    if not sid or not sender or not form.get("To"):
        _reject(400, "MessageSid, From and To are required")
    count = min(_int(form.get("NumMedia")), MAX_MEDIA)
    media = tuple(Media(form.get(f"MediaUrl{i}", ""), form.get(f"MediaContentType{i}", ""))
                  for i in range(count) if form.get(f"MediaUrl{i}"))
    text = form.get("ButtonPayload") or form.get("Body", "")
    if not text and not media and form.get("Latitude"):
        media = (Media("", "location"),)  # a shared location: answered politely
    runtime = current_app.extensions["crms"]
    inbound_message = InboundMessage(
        channel="whatsapp" if sender.startswith("whatsapp:") else "sms", sender=sender,
        text=text, provider_id=sid, to=form["To"], media=media, raw=form.to_dict())
    try:
        receipt = runtime.engine.receive(inbound_message)
    except UnknownTenant:
        _reject(404, "no tenant owns this number")
    except ValueError as exc:
        _reject(400, str(exc))
    if not receipt.duplicate:
        runtime.work.enqueue_conversation(receipt.conversation_id)
    return Response(EMPTY_TWIML, mimetype="text/xml")


@bp.post("/status")
def status():  # type: ignore[no-untyped-def]
    """Delivery status of a message we sent: forward only; WhatsApp window misses go by SMS."""
    form = request.form
    sid, state = form.get("MessageSid", ""), form.get("MessageStatus", "")
    if not sid or not state:
        _reject(400, "MessageSid and MessageStatus are required")
    code = form.get("ErrorCode") or None
    runtime = current_app.extensions["crms"]
    with runtime.db.session() as s:
        message, moved = record_callback(s, sid, state, code)
        if message is None:
            log.info("status %s for unknown message %s ignored", state, sid)
        elif moved and state in FAILED and code == OUTSIDE_WINDOW_ERROR and message.channel == "whatsapp":
            runtime.relay.resend_by_sms(s, message)
    runtime.work.wake_outbox()
    return Response(EMPTY_TWIML, mimetype="text/xml")


def _int(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0
