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

from tests import fake_stripe, fake_twilio
from tests.envs import free_port, service_env, start_serve
from tests.fake_stripe import SECRET_KEY, WEBHOOK_SECRET, event, signed
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN

BIN = Path(sys.executable).parent / "crms-bot"



@pytest.fixture
def service(tmp_path):  # type: ignore[no-untyped-def]
    twilio = fake_twilio.start()
    stripe_api = fake_stripe.start()
    port = free_port()
    env = service_env()
    env.update(CRMS_VAR_DIR=str(tmp_path), CRMS_DATABASE_URL=f"sqlite:///{tmp_path}/e2e.sqlite3",
               CRMS_DATA_KEY=Fernet.generate_key().decode(), TWILIO_ACCOUNT_SID=ACCOUNT_SID,
               TWILIO_AUTH_TOKEN=AUTH_TOKEN, CRMS_TWILIO_API_BASE=twilio.url,
               CRMS_PUBLIC_URL=f"http://127.0.0.1:{port}", STRIPE_SECRET_KEY=SECRET_KEY,
               STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, CRMS_STRIPE_API_BASE=stripe_api.url)
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
    twilio.stripe = stripe_api  # type: ignore[attr-defined]
    yield base, twilio, tmp_path / "e2e.sqlite3"
    proc.terminate()
    proc.wait(timeout=10)
    stripe_api.close()
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


def from_anna(sid_char: str, body: str) -> dict[str, str]:
    """A WhatsApp webhook's form from Anna (CR-48213, German) to Alpen Rent."""
    return {"MessageSid": "SM" + sid_char * 32, "AccountSid": ACCOUNT_SID, "NumMedia": "0",
            "From": "whatsapp:+41791234501", "To": "whatsapp:+41445550102", "Body": body}


def test_webhook_to_reply_through_the_running_service(service):
    base, twilio, db_path = service
    params = from_anna("e", "Hallo, wo ist meine Buchung?")
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


def test_a_chunked_webhook_is_read_whole_and_an_oversized_one_refused(service):
    """Through Granian: a body without Content-Length (chunked) is read to its end."""
    import http.client

    base, twilio, _ = service
    params = from_anna("c", "Grüezi")
    body = urllib.parse.urlencode(params).encode()
    signature = RequestValidator(AUTH_TOKEN).compute_signature(base + "/webhooks/twilio", params)
    conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=5)
    conn.request("POST", "/webhooks/twilio", body=iter([body[:40], body[40:]]),
                 headers={"X-Twilio-Signature": signature,
                          "Content-Type": "application/x-www-form-urlencoded"},
                 encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 200 and response.read().endswith(b"<Response/>")
    assert wait_for(lambda: len(twilio.messages) == 1)
    assert twilio.messages[0].value("Body").startswith("Grüezi!")
    huge = from_anna("h", "x" * 70_000)
    conn.request("POST", "/webhooks/twilio", body=iter([urllib.parse.urlencode(huge).encode()]),
                 headers={"Content-Type": "application/x-www-form-urlencoded"},
                 encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 413 and b"KB" in response.read()


def test_pay_by_twint_link_and_a_signed_stripe_event_confirm_once(service):
    """The payment 'done when': a link from Stripe, its completed event, a German receipt."""
    base, twilio, _ = service
    assert post(base + "/webhooks/twilio", from_anna("7", "kann ich mit TWINT zahlen?")) == 200
    assert wait_for(lambda: len(twilio.messages) == 1)
    stripe_api = twilio.stripe
    [session] = stripe_api.sessions.values()
    assert session["url"] in twilio.messages[0].value("Body")
    assert session["payment_method_types"] == ["card", "twint"]
    paid = event("checkout.session.completed",
                 {**session, "status": "complete", "payment_status": "paid",
                  "payment_intent": "pi_e2e", "payment_method_types": ["twint"]})
    payload, header = signed(paid)
    for _ in range(2):  # Stripe delivers, then retries the same event
        request = urllib.request.Request(base + "/webhooks/stripe", data=payload, headers={
            "Stripe-Signature": header, "Content-Type": "application/json"})
        assert urllib.request.urlopen(request, timeout=5).status == 200
    assert wait_for(lambda: len(twilio.messages) == 2)
    assert twilio.messages[1].value("Body") == \
        "Danke! Wir haben Ihre Zahlung von CHF 1’234.50 für die Buchung CR-48213 erhalten."
    time.sleep(0.5)
    assert len(twilio.messages) == 2  # the retried event changed nothing
    forged = urllib.request.Request(base + "/webhooks/stripe", data=payload, headers={
        "Stripe-Signature": header.replace("v1=", "v1=0"), "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=5)
    assert refused.value.code == 400


def test_links_point_at_the_port_serve_listens_on(tmp_path):
    """Without CRMS_PUBLIC_URL, `serve --port N` writes links to 127.0.0.1:N (not 8000)."""
    proc, base = start_serve(tmp_path)
    try:
        assert _up(base)
        form = urllib.parse.urlencode({"tenant": "alpenrent", "channel": "whatsapp",
                                       "sender": "+41791234501", "text": "online bezahlen"})
        urllib.request.urlopen(base + "/sandbox/send", data=form.encode(), timeout=5)
        assert wait_for(lambda: f"{base}/sandbox/pay/sbx_cs_1_" in _page(base + "/sandbox?conv=1"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _up(base: str) -> bool:
    try:
        return urllib.request.urlopen(base + "/healthz", timeout=1).status == 200
    except OSError:
        return False


def _page(url: str) -> str:
    return urllib.request.urlopen(url, timeout=5).read().decode()
