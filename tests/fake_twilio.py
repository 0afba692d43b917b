"""A local Twilio: the Messages API, media behind a CDN redirect, scripted failures.

It speaks Twilio's REST shapes (form-encoded requests, JSON resources, error bodies with
`code`, `message`, `more_info`, `status`) and checks the account's basic auth.
"""

from __future__ import annotations

import base64
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.envs import send_json

ACCOUNT_SID = "AC" + "0" * 30 + "42"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    form: dict[str, list[str]]
    authorization: str | None

    def value(self, name: str) -> str:
        return self.form.get(name, [""])[0]


@dataclass
class Server:
    """A running local HTTP server and what it received."""

    httpd: ThreadingHTTPServer
    requests: list[Recorded] = field(default_factory=list)
    script: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    media_404s: int = 0
    cdn: "Server | None" = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent_to: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, threading.Condition] = field(default_factory=dict)

    def wait_for_reply(self, to: str, count: int, timeout: float) -> bool:
        """Block until `count` messages went to `to` (benchmarks).

        Each recipient has its condition: a message wakes the one renter waiting for it,
        not every renter of the benchmark.
        """
        with self.lock:
            arrived = self.waiting.setdefault(to, threading.Condition(self.lock))
            return arrived.wait_for(lambda: self.sent_to.get(to, 0) >= count, timeout)

    def count_sent(self, to: str) -> None:
        """A message went to `to`: wake whoever waits for it."""
        with self.lock:
            self.sent_to[to] = self.sent_to.get(to, 0) + 1
            arrived = self.waiting.get(to)
            if arrived is not None:
                arrived.notify_all()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def messages(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/Messages.json")]

    def fail_next(self, status: int, code: int, message: str = "failure", times: int = 1) -> None:
        body = {"code": code, "message": message, "status": status,
                "more_info": f"https://www.twilio.com/docs/errors/{code}"}
        self.script.extend([(status, body)] * times)

    def add_media(self, content_type: str, data: bytes) -> str:
        """Store media; returns its Twilio API URL (which redirects to the CDN)."""
        media_sid = "ME" + secrets.token_hex(16)
        self.media[media_sid] = (content_type, data)
        assert self.cdn is not None
        self.cdn.media[media_sid] = (content_type, data)
        return (f"{self.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{secrets.token_hex(16)}"
                f"/Media/{media_sid}")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _message_resource(form: dict[str, list[str]]) -> dict[str, Any]:
    sid = "SM" + secrets.token_hex(16)
    get = lambda k: form.get(k, [None])[0]  # noqa: E731
    return {
        "account_sid": ACCOUNT_SID, "api_version": "2010-04-01", "body": get("Body") or "",
        "date_created": "Mon, 08 Mar 2027 09:00:00 +0000", "date_sent": None,
        "date_updated": "Mon, 08 Mar 2027 09:00:00 +0000", "direction": "outbound-api",
        "error_code": None, "error_message": None, "from": get("From"),
        "messaging_service_sid": None, "num_media": str(len(form.get("MediaUrl", []))),
        "num_segments": "1", "price": None, "price_unit": "USD", "sid": sid, "status": "queued",
        "subresource_uris": {"media": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media.json"},
        "to": get("To"), "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
    }


def _handler(server: Server, role: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Twilio's API speaks it
        disable_nagle_algorithm = True  # headers and body leave as written, no 40 ms stalls

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _record(self) -> Recorded:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            record = Recorded(self.command, urlsplit(self.path).path, parse_qs(body),
                              self.headers.get("Authorization"))
            server.requests.append(record)
            return record

        def _json(self, status: int, body: dict[str, Any]) -> None:
            send_json(self, status, body)

        def _authorised(self, record: Recorded) -> bool:
            expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
            if record.authorization == expected:
                return True
            self._json(401, {"code": 20003, "message": "Authenticate", "status": 401,
                             "more_info": "https://www.twilio.com/docs/errors/20003"})
            return False

        def do_POST(self) -> None:  # noqa: N802
            record = self._record()
            if role != "api" or not record.path.endswith("/Messages.json"):
                return self._json(404, {"code": 20404, "message": "Not found", "status": 404})
            if not self._authorised(record):
                return None
            if server.script:
                status, body = server.script.pop(0)
                return self._json(status, body)
            self._json(201, _message_resource(record.form))
            server.count_sent(record.value("To"))
            return None

        def do_GET(self) -> None:  # noqa: N802
            record = self._record()
            media_sid = record.path.rsplit("/", 1)[-1]
            if role == "api":
                if not self._authorised(record):
                    return None
                if server.media_404s > 0:
                    server.media_404s -= 1
                    return self._json(404, {"code": 20404, "message": "Not found", "status": 404})
                if media_sid not in server.media:
                    return self._json(404, {"code": 20404, "message": "Not found", "status": 404})
                assert server.cdn is not None
                self.send_response(307)
                self.send_header("Location", f"{server.cdn.url}/cdn/{media_sid}?Expires=9&Sig=x")
                self.send_header("Content-Length", "0")
                return self.end_headers()
            if media_sid not in server.media:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            kind, data = server.media[media_sid]
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None

    return Handler


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that goes away with its kept-alive connection is no error here."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _serve(role: str, host: str = "127.0.0.1") -> Server:
    httpd = _Server((host, 0), BaseHTTPRequestHandler)
    server = Server(httpd)
    httpd.RequestHandlerClass = _handler(server, role)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()
    return server


def start() -> Server:
    """The API server with its CDN (another host: 127.0.0.2) beside it."""
    api = _serve("api")
    api.cdn = _serve("cdn", host="127.0.0.2")
    return api


def start_plain() -> Server:
    """A server that only records what it gets (a forged media host)."""
    return _serve("cdn")
