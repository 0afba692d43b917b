"""End to end: `crms-bot serve` as a process, signed webhooks like Twilio's, replies read from
the local Twilio server."""

import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

from tests import fake_twilio
from tests.envs import free_port, service_env
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN

BIN = Path(sys.executable).parent / "crms-bot"



@pytest.fixture
def service(tmp_path):  # type: ignore[no-untyped-def]
    twilio = fake_twilio.start()
    port = free_port()
    env = service_env()
    env.update(CRMS_VAR_DIR=str(tmp_path), CRMS_DATABASE_URL=f"sqlite:///{tmp_path}/e2e.sqlite3",
               CRMS_DATA_KEY=Fernet.generate_key().decode(), TWILIO_ACCOUNT_SID=ACCOUNT_SID,
               TWILIO_AUTH_TOKEN=AUTH_TOKEN, CRMS_TWILIO_API_BASE=twilio.url,
               CRMS_PUBLIC_URL=f"http://127.0.0.1:{port}")
    for args in (["db", "upgrade"], ["demo-data"]):
        subprocess.run([str(BIN), *args], env=env, check=True, capture_output=True, timeout=60)
    proc = subprocess.Popen([str(BIN), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield base, twilio, tmp_path / "e2e.sqlite3"
    proc.terminate()
    proc.wait(timeout=10)
    twilio.close()
    twilio.cdn.close()  # type: ignore[union-attr]


def post(url: str, params: dict, signature: str | None = None) -> int:
    if signature is None:
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(),
                                     headers={"X-Twilio-Signature": signature})
    try:
        return urllib.request.urlopen(request, timeout=5).status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_for(condition, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_webhook_to_reply_through_the_running_service(service):
    base, twilio, db_path = service
    params = {"MessageSid": "SM" + "e" * 32, "AccountSid": ACCOUNT_SID, "NumMedia": "0",
              "From": "whatsapp:+41791234501", "To": "whatsapp:+41445550102",
              "Body": "Hallo, wo ist meine Buchung?"}
    assert post(base + "/webhooks/twilio", params) == 200
    assert wait_for(lambda: len(twilio.messages) == 1)
    reply = twilio.messages[0]
    assert reply.value("Body").startswith("Buchung CR-48213") and reply.value("To") == "whatsapp:+41791234501"

    assert post(base + "/webhooks/twilio", params) == 200  # Twilio retries: no second reply
    assert post(base + "/webhooks/twilio", dict(params, Body="x"), signature="forged") == 403
    time.sleep(0.5)
    assert len(twilio.messages) == 1

    engine = create_engine(f"sqlite:///{db_path}")
    with engine.connect() as conn:
        sid = conn.execute(text("SELECT provider_message_id FROM messages WHERE direction='out'")).scalar()
    assert post(base + "/webhooks/twilio/status", {"MessageSid": sid, "MessageStatus": "delivered",
                                                   "AccountSid": ACCOUNT_SID}) == 200
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM messages WHERE direction='out'")).scalar() == "delivered"
