"""The environment for service processes the tests start: none of the developer's settings."""

import os

KEEP = {"CRMS_NLU_CACHE_DIR"}  # the trained model is shared by the whole run


def service_env() -> dict[str, str]:
    """os.environ without CRMS_/TWILIO_/STRIPE_ settings (the test sets its own)."""
    return {k: v for k, v in os.environ.items()
            if k in KEEP or not k.startswith(("CRMS_", "TWILIO_", "STRIPE_"))}


def free_port() -> int:
    """A free TCP port on loopback for a server the test starts."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def send_json(handler, status: int, body: object) -> None:  # type: ignore[no-untyped-def]
    """Answer a BaseHTTPRequestHandler request with a JSON body (the local provider servers)."""
    import json

    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
