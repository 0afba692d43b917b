"""A local Telegram Bot API server: records methods called, answers like Telegram does."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.envs import send_json


@dataclass
class BotApi:
    """The server, the calls it received and scripted failures."""

    httpd: ThreadingHTTPServer
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # token, method, args
    script: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # file_id -> (path, data)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        return [args for _, name, args in self.calls if name == method]

    def retry_after(self, seconds: int) -> None:
        self.script.append((429, {"ok": False, "error_code": 429,
                                  "description": f"Too Many Requests: retry after {seconds}",
                                  "parameters": {"retry_after": seconds}}))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def start() -> BotApi:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    api = BotApi(httpd)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path  # /bot<token>/<method>
            token, method = path[4:].split("/", 1)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            kind = self.headers.get("Content-Type", "")
            if "json" in kind:
                args = json.loads(raw or "{}")
            elif "multipart" in kind:
                args = {"_multipart": raw}
            else:
                args = {k: v[0] for k, v in parse_qs(raw).items()}
            for key in ("reply_markup",):
                if isinstance(args.get(key), str):
                    args[key] = json.loads(args[key])
            api.calls.append((token, method, args))
            if api.script:
                status, body = api.script.pop(0)
            elif method == "getFile" and args.get("file_id") in api.files:
                path, data = api.files[args["file_id"]]
                status, body = 200, {"ok": True, "result": {
                    "file_id": args["file_id"], "file_unique_id": "u" + args["file_id"],
                    "file_size": len(data), "file_path": path}}
            elif not method.startswith("send"):  # setWebhook, answerCallbackQuery, ...
                status, body = 200, {"ok": True, "result": True}
            else:
                status, body = 200, {"ok": True, "result": {
                    "message_id": len(api.calls), "date": int(time.time()),
                    "chat": {"id": int(args.get("chat_id", 0)), "type": "private"},
                    "text": args.get("text", "")}}
            send_json(self, status, body)

        def do_GET(self) -> None:  # noqa: N802  # /file/bot<token>/<path>
            path = urlsplit(self.path).path.split("/", 3)[-1]
            found = [data for p, data in api.files.values() if p == path]
            self.send_response(200 if found else 404)
            self.send_header("Content-Length", str(len(found[0]) if found else 0))
            self.end_headers()
            if found:
                self.wfile.write(found[0])

    httpd.RequestHandlerClass = Handler
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()
    return api
