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


def start_serve(var_dir, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    """`crms-bot serve` in sandbox mode on a fresh SQLite with the demo data: (process, URL)."""
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    from cryptography.fernet import Fernet

    crms = Path(sys.executable).parent / "crms-bot"
    port = free_port()
    env = service_env()
    env.update(CRMS_VAR_DIR=str(var_dir), CRMS_DATABASE_URL=f"sqlite:///{var_dir}/serve.sqlite3",
               CRMS_DATA_KEY=Fernet.generate_key().decode())
    for args in (["db", "upgrade"], ["demo-data"]):
        subprocess.run([str(crms), *args], env=env, check=True, capture_output=True, timeout=120)
    proc = subprocess.Popen([str(crms), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(url + "/healthz", timeout=1).status == 200:
                break
        except OSError:
            time.sleep(0.1)
    # /readyz answers once the NLU is loaded (trained first on a fresh clone: a minute or so)
    urllib.request.urlopen(url + "/readyz", timeout=300).read()
    return proc, url
