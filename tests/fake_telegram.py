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
    webhook_url: str = ""
    updates: list[dict[str, Any]] = field(default_factory=list)  # what getUpdates hands out
    topics: dict[int, str] = field(default_factory=dict)  # message_thread_id -> name
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, description: str, code: int = 400) -> None:
        self.script.append((code, {"ok": False, "error_code": code, "description": description}))

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

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))
            chunks = []  # aiohttp streams multipart uploads in chunks
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)

        def do_POST(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path  # /bot<token>/<method>
            token, method = path[4:].split("/", 1)
            raw = self._body().decode(errors="replace")
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
            with api.lock:
                api.calls.append((token, method, args))
                scripted = api.script.pop(0) if api.script and method != "getUpdates" else None
            if scripted is not None:
                status, body = scripted
            elif method == "createForumTopic":
                thread = 100 + len(api.topics)
                api.topics[thread] = args["name"]
                status, body = 200, {"ok": True, "result": {
                    "message_thread_id": thread, "name": args["name"], "icon_color": 7322096}}
            elif method == "getWebhookInfo":
                status, body = 200, {"ok": True, "result": {
                    "url": api.webhook_url, "has_custom_certificate": False,
                    "pending_update_count": 0}}
            elif method in ("setWebhook", "deleteWebhook"):
                api.webhook_url = args.get("url", "") if method == "setWebhook" else ""
                status, body = 200, {"ok": True, "result": True}
            elif method == "getUpdates":
                offset = int(args.get("offset") or 0)
                with api.lock:
                    ready = [u for u in api.updates if u["update_id"] >= offset]
                if not ready:
                    time.sleep(0.05)  # a short long poll
                status, body = 200, {"ok": True, "result": ready}
            elif method == "getFile" and args.get("file_id") in api.files:
                path, data = api.files[args["file_id"]]
                status, body = 200, {"ok": True, "result": {
                    "file_id": args["file_id"], "file_unique_id": "u" + args["file_id"],
                    "file_size": len(data), "file_path": path}}
            elif not method.startswith("send"):  # setWebhook, answerCallbackQuery, ...
                status, body = 200, {"ok": True, "result": True}
            else:
                chat_id = int(args.get("chat_id", 0))
                result = {"message_id": len(api.calls), "date": int(time.time()),
                          "chat": {"id": chat_id, "type": "supergroup" if chat_id < 0 else "private"},
                          "text": args.get("text", "")}
                if args.get("message_thread_id"):
                    result.update(message_thread_id=int(args["message_thread_id"]),
                                  is_topic_message=True)
                status, body = 200, {"ok": True, "result": result}
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
