"""Twilio webhooks: inbound WhatsApp and SMS, and delivery status callbacks.

Parse, verify the signature, record, enqueue, answer empty TwiML: replies never go inline.

These are the busiest endpoints by far (every message a renter sends, and several status
callbacks for every reply), so they are plain WSGI in front of the Flask app: Flask's
request context, dispatch, form parser and response object cost as much CPU as recording
the message (0.2 ms a request, measured). Everything else goes on to Flask; errors have the
same shape as Flask's (`handlers/errors.py`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from sqlalchemy.exc import OperationalError
from twilio.request_validator import RequestValidator

from bot import metrics
from bot.delivery_status import FAILED, record_callback
from bot.engine import UnknownTenant
from bot.messages import InboundMessage, Media
from bot.whatsapp import OUTSIDE_WINDOW_ERROR
from handlers.errors import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS, UNEXPECTED

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
TWIML_HEADERS = [("Content-Type", "text/xml; charset=utf-8"),
                 ("Content-Length", str(len(EMPTY_TWIML)))]
MAX_MEDIA = 10
MAX_BODY = 64 * 1024  # Twilio's forms are a few hundred bytes; media come as URLs
FORM = "application/x-www-form-urlencoded"
TWILIO_CHANNELS = ("whatsapp", "sms")

Form = dict[str, str]
StartResponse = Callable[..., Any]


class Rejected(Exception):
    """A webhook answered with a 4xx (or 503) and a reason; nothing was recorded."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def inbound(runtime: Runtime, form: Form) -> None:
    """A renter's WhatsApp or SMS message: recorded once, answered by a worker."""
    sender, sid = form.get("From", ""), form.get("MessageSid") or form.get("SmsSid", "")
    if not sid or not sender or not form.get("To"):
        raise Rejected(400, "MessageSid, From and To are required")
    count = min(_int(form.get("NumMedia")), MAX_MEDIA)
    media = tuple(Media(form.get(f"MediaUrl{i}", ""), form.get(f"MediaContentType{i}", ""))
                  for i in range(count) if form.get(f"MediaUrl{i}"))
    text = form.get("ButtonPayload") or form.get("Body", "")
    if not text and not media and form.get("Latitude"):
        media = (Media("", "location"),)  # a shared location: answered politely
    message = InboundMessage(
        channel="whatsapp" if sender.startswith("whatsapp:") else "sms", sender=sender,
        text=text, provider_id=sid, to=form["To"], media=media, raw=form)
    try:
        receipt = runtime.engine.receive(message)
    except UnknownTenant:
        raise Rejected(404, "no tenant owns this number") from None
    except ValueError as exc:
        raise Rejected(400, str(exc)) from None
    if not receipt.duplicate:
        runtime.work.enqueue_conversation(receipt.conversation_id)


def status(runtime: Runtime, form: Form) -> None:
    """Delivery status of a message we sent: forward only; WhatsApp window misses go by SMS."""
    sid, state = form.get("MessageSid", ""), form.get("MessageStatus", "")
    if not sid or not state:
        raise Rejected(400, "MessageSid and MessageStatus are required")
    code = form.get("ErrorCode") or None
    resent = False
    with runtime.db.session() as s:
        message, moved = record_callback(s, TWILIO_CHANNELS, sid, state, code)
        if message is None:
            log.info("status %s for unknown message %s ignored", state, sid)
        elif moved and state in FAILED and code == OUTSIDE_WINDOW_ERROR and message.channel == "whatsapp":
            resent = runtime.relay.resend_by_sms(s, message)
    if resent:  # most callbacks only record a status: no delivery run for them
        runtime.work.wake_outbox()


ROUTES: dict[str, Callable[[Runtime, Form], None]] = {
    "/webhooks/twilio": inbound, "/webhooks/twilio/status": status}


class TwilioWebhooks:
    """WSGI middleware: Twilio's two webhooks here, every other request to `app`."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]],
                 runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """One request: a webhook answered here (TwiML or a JSON error), else Flask's."""
        path = environ.get("PATH_INFO", "")
        handle = ROUTES.get(path)
        if handle is None:
            return self.app(environ, start_response)
        try:
            if environ.get("REQUEST_METHOD") != "POST":
                raise Rejected(405, "Twilio webhooks are POSTed")
            form = _form(environ)
            self._verify(environ, path, form)
            handle(self.runtime, form)
        except Rejected as exc:
            metrics.WEBHOOKS_REJECTED.labels("twilio", exc.reason).inc()
            log.warning("twilio webhook %s rejected: %s %s", path, exc.code, exc.reason)
            return _error(start_response, exc.code, exc.reason)
        except OperationalError as exc:
            log.error("database unavailable on POST %s: %s", path, type(exc.orig).__name__)
            return _error(start_response, 503, DATABASE_UNAVAILABLE,
                          [("Retry-After", RETRY_AFTER_SECONDS)])
        except Exception:  # noqa: BLE001 - logged; Twilio retries a 5xx
            log.exception("unhandled error on POST %s", path)
            return _error(start_response, 500, UNEXPECTED)
        start_response("200 OK", TWIML_HEADERS)
        return [EMPTY_TWIML]

    def _verify(self, environ: dict[str, Any], path: str, form: Form) -> None:
        """403 unless X-Twilio-Signature matches CRMS_PUBLIC_URL + path with our auth token."""
        config = self.runtime.config
        signature = environ.get("HTTP_X_TWILIO_SIGNATURE", "")
        if not config.twilio_auth_token or not signature:
            raise Rejected(403, "unsigned" if config.twilio_auth_token else "twilio not configured")
        query = environ.get("QUERY_STRING", "")
        url = config.public_url + path + (f"?{query}" if query else "")
        if not RequestValidator(config.twilio_auth_token).validate(url, form, signature):
            raise Rejected(403, "bad signature")


def _form(environ: dict[str, Any]) -> Form:
    """The posted form (the first value of a repeated field); empty unless form-encoded."""
    declared = environ.get("CONTENT_LENGTH")
    try:
        length = int(declared) if declared else None
    except ValueError:
        raise Rejected(400, "bad Content-Length") from None
    too_big = Rejected(413, f"a Twilio webhook is under {MAX_BODY // 1024} KB")
    if length is not None and length > MAX_BODY:
        raise too_big
    if length is None:  # chunked: the server ends the stream (wsgi.input_terminated)
        body = environ["wsgi.input"].read(MAX_BODY + 1) if environ.get(
            "wsgi.input_terminated") else b""
        if len(body) > MAX_BODY:
            raise too_big
    else:
        body = environ["wsgi.input"].read(length) if length > 0 else b""
    if not environ.get("CONTENT_TYPE", "").startswith(FORM):
        return {}  # then unsigned as far as the validator goes: 403
    form: Form = {}
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        form.setdefault(name, value)
    return form


def _error(start_response: StartResponse, code: int, reason: str,
           headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    """The JSON error Flask's handlers give: {"error": ..., "reason": ...}."""
    body = json.dumps({"error": HTTPStatus(code).phrase, "reason": reason}).encode()
    start_response(f"{code} {HTTPStatus(code).phrase}", [
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
        *(headers or [])])
    return [body]


def _int(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0
