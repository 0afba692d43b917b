"""A local Stripe: Checkout Sessions and PaymentIntents, idempotency keys, scripted failures.

It speaks Stripe's REST shapes: form-encoded requests with bracketed nested keys, a Bearer
secret key, `Idempotency-Key` (the same key replays the first answer with
`Idempotent-Replayed: true`), `Stripe-Account` for Connect, JSON objects and error bodies
`{"error": {"type", "message", "code"}}`. Events are signed with the webhook secret exactly
as Stripe signs them (`t=...,v1=HMAC-SHA256(secret, "t.body")`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.envs import send_json

SECRET_KEY = "sk_test_51Crms" + "x" * 20
WEBHOOK_SECRET = "whsec_test_crms_0123456789abcdef"


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Server:
    """A running local Stripe and what it received."""

    httpd: ThreadingHTTPServer
    requests: list[Recorded] = field(default_factory=list)
    script: list[tuple[int, dict[str, Any], float]] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    replies: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    on_session: Callable[[dict[str, Any]], None] | None = None  # runs before the answer

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def created_sessions(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/v1/checkout/sessions"]

    def fail_next(self, status: int, times: int = 1, message: str = "failure",
                  kind: str = "api_error") -> None:
        body = {"error": {"type": kind, "message": message}}
        self.script.extend([(status, body, 0.0)] * times)

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """Answer the next requests only after `seconds` (client timeouts)."""
        self.script.extend([(0, {}, seconds)] * times)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def event(kind: str, obj: dict[str, Any], account: str | None = None,
          created: int | None = None) -> dict[str, Any]:
    """A Stripe event wrapping an object."""
    return {"id": "evt_" + secrets.token_hex(12), "object": "event", "type": kind,
            "api_version": "2026-10-28.endive", "created": created or int(time.time()),
            "livemode": False, "account": account, "data": {"object": obj}}


def signed(body: dict[str, Any], secret: str = WEBHOOK_SECRET,
           at: int | None = None) -> tuple[bytes, str]:
    """The raw payload and its `Stripe-Signature` header."""
    payload = json.dumps(body).encode()
    timestamp = at if at is not None else int(time.time())
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return payload, f"t={timestamp},v1={mac.hexdigest()}"


def _session(form: dict[str, str], account: str | None) -> dict[str, Any]:
    sid = "cs_test_" + secrets.token_hex(16)
    metadata = {k[len("metadata["):-1]: v for k, v in form.items() if k.startswith("metadata[")}
    methods = [v for k, v in sorted(form.items())
               if k.startswith("allowed_payment_method_types[")]
    return {
        "id": sid, "object": "checkout.session", "url": f"https://checkout.stripe.com/c/pay/{sid}",
        "status": "open", "payment_status": "unpaid", "payment_intent": None,
        "amount_total": int(form.get("line_items[0][price_data][unit_amount]", "0")),
        "currency": form.get("line_items[0][price_data][currency]"),
        "locale": form.get("locale"), "metadata": metadata, "mode": form.get("mode"),
        "client_reference_id": form.get("client_reference_id"),
        "expires_at": int(form.get("expires_at", "0")), "payment_method_types": methods,
        "success_url": form.get("success_url"), "cancel_url": form.get("cancel_url"),
        "livemode": False, "account": account,
        "capture_method": form.get("payment_intent_data[capture_method]", "automatic"),
    }


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
            record = Recorded("POST", urlsplit(self.path).path, form,
                              {k.lower(): v for k, v in self.headers.items()})
            server.requests.append(record)
            if record.header("Authorization") != f"Bearer {SECRET_KEY}":
                return send_json(self, 401, {"error": {
                    "type": "invalid_request_error", "message": "Invalid API Key provided"}})
            if server.script:
                status, error, delay = server.script.pop(0)
                if delay:
                    time.sleep(delay)
                if status:
                    return send_json(self, status, error)
            key = record.header("Idempotency-Key")
            if key and key in server.replies:
                status, reply = server.replies[key]
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Idempotent-Replayed", "true")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None
            status, reply = self._answer(record)
            if key and status < 500:
                server.replies[key] = (status, reply)
            return send_json(self, status, reply)

        def _answer(self, record: Recorded) -> tuple[int, dict[str, Any]]:
            account = record.header("Stripe-Account")
            if record.path == "/v1/checkout/sessions":
                if "payment_method_types[0]" in record.form:
                    return 400, {"error": {"type": "invalid_request_error",
                                           "message": "payment_method_types is not supported "
                                                      "in this API version"}}
                session = _session(record.form, account)
                server.sessions[session["id"]] = session
                if server.on_session is not None:
                    server.on_session(session)
                return 200, session
            parts = record.path.strip("/").split("/")  # v1 payment_intents pi_x capture
            if len(parts) == 4 and parts[1] == "payment_intents" and parts[3] in ("capture", "cancel"):
                intent = server.intents.get(parts[2])
                if intent is None or intent.get("account") != account:
                    return 404, {"error": {"type": "invalid_request_error",
                                           "code": "resource_missing",
                                           "message": f"No such payment_intent: '{parts[2]}'"}}
                if intent["status"] != "requires_capture":
                    return 400, {"error": {"type": "invalid_request_error",
                                           "code": "payment_intent_unexpected_state",
                                           "message": "This PaymentIntent could not be captured"}}
                if parts[3] == "capture":
                    wanted = int(record.form.get("amount_to_capture", intent["amount"]))
                    intent.update(status="succeeded", amount_received=min(wanted, intent["amount"]),
                                  amount_capturable=0)
                else:
                    intent.update(status="canceled", cancellation_reason="requested_by_customer",
                                  amount_capturable=0)
                return 200, intent
            return 404, {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}}

    return Handler


def hold(server: Server, session: dict[str, Any]) -> dict[str, Any]:
    """The renter authorised a deposit session: its PaymentIntent now waits for capture."""
    pid = "pi_" + secrets.token_hex(12)
    intent = {"id": pid, "object": "payment_intent", "amount": session["amount_total"],
              "amount_capturable": session["amount_total"], "amount_received": 0,
              "currency": "chf", "status": "requires_capture", "capture_method": "manual",
              "metadata": session["metadata"], "created": int(time.time()),
              "account": session.get("account"), "payment_method_types": ["card"]}
    server.intents[pid] = intent
    session.update(status="complete", payment_intent=pid)
    return intent


def start() -> Server:
    """A local Stripe on a free port."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server = Server(httpd)
    httpd.RequestHandlerClass = _handler(server)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()
    return server
