"""Health, readiness, metrics and the sandbox page over HTTP."""

import pytest

from bot import create_app
from bot.config import Config


@pytest.fixture
def app(config, services, demo):  # type: ignore[no-untyped-def]
    return create_app(config, services)


def test_healthz_and_readyz(app):
    client = app.test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"] == {"database": "ok"}
    assert ready.json["providers"]["twilio"] == "closed"
    assert ready.json["sandbox"] == {"twilio": True, "stripe": True}


def test_readyz_reports_an_open_circuit(app):
    breaker = app.extensions["crms"].services.breakers.get("twilio")
    for _ in range(5):
        breaker.record_failure()
    body = app.test_client().get("/readyz").json
    assert body["providers"]["twilio"] == "open" and body["degraded"] == ["twilio"]


def test_readyz_is_503_when_the_database_is_gone(tmp_path, services):
    config = Config(database_url=f"sqlite:///{tmp_path}/missing/dir/x.sqlite3",
                    var_dir=tmp_path, data_key=None)
    app = create_app(config, services)
    (tmp_path / "missing" / "dir").rmdir()
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.json["checks"]["database"].startswith("error")


def test_metrics_count_messages_and_backlog(app, chat):
    chat("whatsapp", "+41791234501").say("Grüezi")
    body = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'crms_messages_in_total{channel="whatsapp"}' in body
    assert "crms_handling_seconds_bucket" in body
    assert "crms_outbox_backlog 1.0" in body
    assert "crms_outbox_dead_letters 0.0" in body


def test_sandbox_page_lists_conversations_and_accepts_a_message(app, runtime):
    client = app.test_client()
    page = client.get("/sandbox")
    assert page.status_code == 200 and "SANDBOX MODE" in page.get_data(as_text=True)
    sent = client.post("/sandbox/send", data={"tenant": "alpenrent", "channel": "sms",
                                              "sender": "+41791234501", "text": "Grüezi"})
    assert sent.status_code == 302
    app.extensions["crms"].work.pool.shutdown(wait=True)
    transcript = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Grüezi! Ich bin der Chat-Assistent von Alpen Rent AG" in transcript


def test_sandbox_rejects_bad_input_with_400(app):
    client = app.test_client()
    assert client.post("/sandbox/send", data={"channel": "fax"}).status_code == 400
    bad_phone = client.post("/sandbox/send", data={"tenant": "alpenrent", "channel": "sms",
                                                   "sender": "not a phone", "text": "hi"})
    assert bad_phone.status_code == 400
    unknown = client.post("/sandbox/send", data={"tenant": "nobody", "channel": "sms",
                                                 "sender": "+41791234501", "text": "hi"})
    assert unknown.status_code == 400 and unknown.json["reason"] == "unknown tenant"


def test_sandbox_is_404_with_real_providers(config, services):
    config.twilio_account_sid, config.twilio_auth_token = "AC123", "secret"
    client = create_app(config, services).test_client()
    assert client.get("/sandbox").status_code == 404


def test_with_real_providers_an_enabled_sandbox_needs_its_password(config, services):
    import base64

    config.twilio_account_sid, config.twilio_auth_token = "AC123", "secret"
    config.sandbox_enabled = True
    assert create_app(config, services).test_client().get("/sandbox").status_code == 404
    config.sandbox_password = "s3cret-sandbox"
    client = create_app(config, services).test_client()
    refused = client.get("/sandbox")
    assert refused.status_code == 401 and "Basic" in refused.headers["WWW-Authenticate"]

    def login(password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"petra:{password}".encode()).decode()}
    assert client.get("/sandbox", headers=login("wrong")).status_code == 401
    assert client.get("/sandbox", headers=login("s3cret-sandbox")).status_code == 200
    assert client.post("/sandbox/clock", data={"hours": "1"}).status_code == 401


def test_unknown_path_is_a_clear_404(app):
    response = app.test_client().get("/nope")
    assert response.status_code == 404 and response.json["error"] == "Not Found"


def test_the_sandbox_staff_desk_answers_a_renter_and_hands_back(app):
    from concurrent.futures import ThreadPoolExecutor

    client = app.test_client()
    runtime = app.extensions["crms"]

    def settle() -> None:  # what serve's worker threads do between page loads
        runtime.work.pool.shutdown(wait=True)
        runtime.work.pool = ThreadPoolExecutor(max_workers=4)
        runtime.relay.run_once()

    sent = client.post("/sandbox/send", data={"tenant": "lemanauto", "channel": "whatsapp",
                                              "sender": "+41791234504",
                                              "text": "je veux parler à quelqu'un"})
    conv = int(sent.headers["Location"].split("conv=")[1])
    settle()
    desk = client.get("/sandbox/staff").get_data(as_text=True)
    assert f"#{conv} whatsapp" in desk and "waiting" in desk
    assert "je veux parler à quelqu&#39;un" in desk  # the summary's last messages
    assert client.post(f"/sandbox/staff/{conv}", data={"text": ""}).status_code == 400
    assert client.post("/sandbox/staff/9999", data={"text": "hi"}).status_code == 404
    client.post(f"/sandbox/staff/{conv}", data={"author": "Luc", "text": "Bonjour, ici Luc."})
    settle()
    renter_view = client.get(f"/sandbox?conv={conv}").get_data(as_text=True)
    assert "Bonjour, ici Luc." in renter_view
    assert "held by Luc" in client.get("/sandbox/staff").get_data(as_text=True)
    client.post(f"/sandbox/staff/{conv}", data={"author": "Luc", "text": "/close"})
    settle()
    assert "Notre équipe m&#39;a rendu la conversation" in client.get(
        f"/sandbox?conv={conv}").get_data(as_text=True)
    assert "with the bot" in client.get(f"/sandbox/staff?conv={conv}").get_data(as_text=True)
