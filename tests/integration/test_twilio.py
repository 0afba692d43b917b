"""WhatsApp and SMS through Twilio, against a local server that speaks Twilio's REST shapes."""

import io
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot import create_app
from bot.channels.registry import build_channels
from bot.models import Conversation, Customer, LicenceCheck, Message
from tests import fake_twilio
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN

PUBLIC = "https://bot.alpenrent.example"  # behind a proxy: Twilio signs this URL
ANNA = "+41791234501"
WHATSAPP_NUMBER = "+41445550102"
SMS_NUMBER = "+41445550101"


@pytest.fixture
def twilio():  # type: ignore[no-untyped-def]
    server = fake_twilio.start()
    yield server
    server.close()
    assert server.cdn is not None
    server.cdn.close()


@pytest.fixture
def app(config, services, demo, twilio):  # type: ignore[no-untyped-def]
    config.twilio_account_sid, config.twilio_auth_token = ACCOUNT_SID, AUTH_TOKEN
    config.twilio_api_base, config.public_url = twilio.url, PUBLIC
    channels = build_channels(config)
    services.channels.update(whatsapp=channels["whatsapp"], sms=channels["sms"])
    return create_app(config, services)


def signed_post(client, path: str, params: dict, url: str | None = None):  # type: ignore[no-untyped-def]
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url or PUBLIC + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def whatsapp(text: str, sid: str = "SM" + "1" * 32, sender: str = ANNA, **extra: str) -> dict:
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID,
            "From": f"whatsapp:{sender}", "To": f"whatsapp:{WHATSAPP_NUMBER}", "Body": text,
            "NumMedia": "0", "ProfileName": "Anna", "WaId": sender.lstrip("+"), **extra}


def sms(text: str, sid: str, sender: str = ANNA) -> dict:
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID, "From": sender,
            "To": SMS_NUMBER, "Body": text, "NumMedia": "0", "FromCountry": "CH"}


def settle(app) -> None:  # type: ignore[no-untyped-def]
    """Let the embedded worker finish and the relay send (what `serve` does on its threads)."""
    runtime = app.extensions["crms"]
    runtime.work.pool.shutdown(wait=True)
    for conv_id in runtime.engine.pending_conversations():
        runtime.engine.process_conversation(conv_id)
    runtime.relay.run_once()


def count(app, model) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["crms"].db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_signed_whatsapp_webhook_gets_a_german_reply_through_the_api(app, twilio):
    response = signed_post(app.test_client(), "/webhooks/twilio",
                           whatsapp("Hallo, wo ist meine Buchung?"))
    assert response.status_code == 200 and response.mimetype == "text/xml"
    assert response.get_data(as_text=True).endswith("<Response/>")
    settle(app)
    [sent] = twilio.messages
    assert sent.value("To") == f"whatsapp:{ANNA}" and sent.value("From") == f"whatsapp:{WHATSAPP_NUMBER}"
    assert sent.value("Body").startswith("Buchung CR-48213")
    assert sent.value("StatusCallback") == f"{PUBLIC}/webhooks/twilio/status"


def test_a_retried_webhook_is_handled_once(app, twilio):
    client = app.test_client()
    for _ in range(3):
        assert signed_post(client, "/webhooks/twilio", whatsapp("Grüezi")).status_code == 200
    settle(app)
    assert len(twilio.messages) == 1
    assert count(app, Message) == 2  # one in, one out


@pytest.mark.parametrize("headers", [{}, {"X-Twilio-Signature": "forged"}])
def test_unsigned_or_forged_webhooks_are_403_and_store_nothing(app, headers):
    response = app.test_client().post("/webhooks/twilio", data=whatsapp("Grüezi"), headers=headers)
    assert response.status_code == 403
    assert count(app, Message) == 0 and count(app, Conversation) == 0


def test_signature_for_the_internal_url_is_refused_behind_a_proxy(app):
    response = signed_post(app.test_client(), "/webhooks/twilio", whatsapp("Grüezi"),
                           url="http://127.0.0.1:8000/webhooks/twilio")
    assert response.status_code == 403


def test_a_tampered_body_is_refused(app):
    params = whatsapp("Grüezi")
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + "/webhooks/twilio", params)
    params["Body"] = "delete my data"
    response = app.test_client().post("/webhooks/twilio", data=params,
                                      headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_unknown_number_and_missing_fields_are_4xx(app):
    client = app.test_client()
    unknown = dict(whatsapp("hi"), To="whatsapp:+41000000000")
    assert signed_post(client, "/webhooks/twilio", unknown).status_code == 404
    assert signed_post(client, "/webhooks/twilio", {"Body": "hi"}).status_code == 400


def test_odd_requests_get_a_reason_and_store_nothing(app):
    """The webhooks answer before Flask does: the same JSON errors, never a 500."""
    client = app.test_client()
    got = client.get("/webhooks/twilio/status")
    assert got.status_code == 405 and got.get_json()["reason"] == "Twilio webhooks are POSTed"
    huge = whatsapp("x" * 70_000)
    too_big = signed_post(client, "/webhooks/twilio", huge)
    assert too_big.status_code == 413 and "KB" in too_big.get_json()["reason"]
    params = whatsapp("Grüezi")
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + "/webhooks/twilio", params)
    as_json = client.post("/webhooks/twilio", json=params, headers={"X-Twilio-Signature": signature})
    assert as_json.status_code == 403 and as_json.get_json() == {
        "error": "Forbidden", "reason": "bad signature"}
    assert count(app, Message) == 0 and count(app, Conversation) == 0
    assert client.get("/healthz").status_code == 200  # other paths: the Flask app


def test_a_signed_url_with_a_query_string_is_verified_with_it(app, twilio):
    """Tenants may add parameters to the webhook URL; Twilio signs the URL with them."""
    client = app.test_client()
    params = whatsapp("Grüezi", sid="SM" + "q" * 32)
    signed = signed_post(client, "/webhooks/twilio?tenant=alpenrent", params,
                         url=PUBLIC + "/webhooks/twilio?tenant=alpenrent")
    assert signed.status_code == 200
    moved = signed_post(client, "/webhooks/twilio?tenant=other", dict(params, MessageSid="SM2"),
                        url=PUBLIC + "/webhooks/twilio?tenant=alpenrent")
    assert moved.status_code == 403  # the query is part of what was signed
    settle(app)
    assert len(twilio.messages) == 1  # one renter message, one reply


def test_sms_reply_uses_gsm7_and_the_sms_number(app, twilio):
    signed_post(app.test_client(), "/webhooks/twilio", sms("habe ich schon bezahlt?", "SM" + "2" * 32))
    settle(app)
    [sent] = twilio.messages
    assert sent.value("From") == SMS_NUMBER and sent.value("To") == ANNA
    body = sent.value("Body")  # the Swiss ’ would force UCS-2 on SMS; methods as a menu
    assert body.startswith("Buchung CR-48213: CHF 1'234.50 offen, CHF 0.00 bezahlt.\n\n"
                           "1) Online zahlen (Karte, TWINT)\n2) QR-Rechnung\n")
    assert "’" not in body


def licence_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 400), (200, 210, 230)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_a_licence_photo_reaches_the_licence_flow_and_the_cdn_never_sees_credentials(app, twilio):
    photo = licence_jpeg()
    twilio.media_404s = 1  # right after the webhook the media can 404 for a moment
    url = twilio.add_media("image/jpeg", photo)
    signed_post(app.test_client(), "/webhooks/twilio", whatsapp(
        "", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg"))
    settle(app)
    with app.extensions["crms"].db.session() as s:
        check = s.scalars(select(LicenceCheck)).one()
        assert check.image == photo and check.status in ("reading", "not_a_licence")
    assert twilio.messages[0].value("Body").startswith("Danke! Ich lese Ihren Führerausweis")
    api_gets = [r for r in twilio.requests if r.method == "GET"]
    assert len(api_gets) == 2 and all(r.authorization for r in api_gets)
    assert twilio.cdn.requests and all(r.authorization is None for r in twilio.cdn.requests)


def test_a_forged_media_url_never_receives_our_credentials(app, twilio):
    evil = fake_twilio.start_plain()
    try:
        forged = f"{evil.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1"
        signed_post(app.test_client(), "/webhooks/twilio", whatsapp(
            "", NumMedia="1", MediaUrl0=forged, MediaContentType0="image/jpeg"))
        settle(app)
        assert evil.requests == []
        assert twilio.messages[0].value("Body").startswith(
            "Entschuldigung, ich konnte Ihren Anhang nicht öffnen")
    finally:
        evil.close()


def test_audio_gets_a_polite_reply(app, twilio):
    url = twilio.add_media("audio/ogg", b"OggS")
    signed_post(app.test_client(), "/webhooks/twilio", whatsapp(
        "", NumMedia="1", MediaUrl0=url, MediaContentType0="audio/ogg"))
    settle(app)
    assert "nur Fotos und PDFs" in twilio.messages[0].value("Body")
    assert not any(r.method == "GET" for r in twilio.requests)  # not even downloaded


def test_status_callbacks_move_forward_only(app, twilio):
    client = app.test_client()
    signed_post(client, "/webhooks/twilio", whatsapp("Grüezi"))
    settle(app)
    runtime = app.extensions["crms"]
    with runtime.db.session() as s:
        out = s.scalars(select(Message).where(Message.direction == "out")).one()
    sid = out.provider_message_id
    assert sid.startswith("SM") and out.status == "queued"
    for state in ("delivered", "sent", "queued", "read", "delivered"):
        assert signed_post(client, "/webhooks/twilio/status", {
            "MessageSid": sid, "MessageStatus": state, "AccountSid": ACCOUNT_SID}).status_code == 200
    with runtime.db.session() as s:
        assert s.get(Message, out.id).status == "read"
    assert signed_post(client, "/webhooks/twilio/status", {"MessageSid": sid}).status_code == 400
    forged = client.post("/webhooks/twilio/status", data={"MessageSid": sid, "MessageStatus": "failed"})
    assert forged.status_code == 403


def test_a_reply_refused_outside_the_window_goes_by_sms(app, twilio):
    twilio.fail_next(400, 63016, "Failed to send freeform message because you are outside the "
                                 "allowed window. Please use a Template.")
    signed_post(app.test_client(), "/webhooks/twilio", whatsapp("Grüezi"))
    settle(app)
    first, second = twilio.messages
    assert first.value("To") == f"whatsapp:{ANNA}"
    assert second.value("To") == ANNA and second.value("From") == SMS_NUMBER
    assert second.value("Body").startswith("Grüezi!")


def test_undelivered_63016_callback_resends_by_sms_once(app, twilio):
    client = app.test_client()
    signed_post(client, "/webhooks/twilio", whatsapp("Grüezi"))
    settle(app)
    with app.extensions["crms"].db.session() as s:
        sid = s.scalars(select(Message).where(Message.direction == "out")).one().provider_message_id
    for _ in range(2):
        signed_post(client, "/webhooks/twilio/status", {
            "MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "63016"})
    app.extensions["crms"].relay.run_once()
    assert [m.value("To") for m in twilio.messages] == [f"whatsapp:{ANNA}", ANNA]


def test_unsubscribed_21610_is_not_retried_nor_a_failure(app, twilio, clock):
    twilio.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    signed_post(app.test_client(), "/webhooks/twilio", sms("Grüezi", "SM" + "3" * 32))
    settle(app)
    clock.advance(hours=1)
    app.extensions["crms"].relay.run_once()
    assert len(twilio.messages) == 1
    runtime = app.extensions["crms"]
    assert runtime.services.breakers.get("twilio").state == "closed"
    with runtime.db.session() as s:
        assert s.scalars(select(Message).where(Message.direction == "out")).one().status == "blocked"
        assert s.scalar(select(Customer.opted_out).where(Customer.phone_hash.is_not(None))
                        .order_by(Customer.id).limit(1)) is True


def test_429_and_5xx_are_retried_with_backoff_then_sent(app, twilio, clock):
    twilio.fail_next(429, 20429, "Too Many Requests")
    twilio.fail_next(503, 20500, "Service Unavailable")
    signed_post(app.test_client(), "/webhooks/twilio", whatsapp("Grüezi"))
    settle(app)
    for _ in range(2):
        clock.advance(seconds=10)
        app.extensions["crms"].relay.run_once()
    assert len(twilio.messages) == 3
    with app.extensions["crms"].db.session() as s:
        assert s.scalars(select(Message).where(Message.direction == "out")).one().status == "queued"


def test_twilio_unreachable_or_silent_is_a_transient_failure(twilio):
    """Connection refused or no answer in time: retried later, never a crash or a hang."""
    import socket
    import time

    from bot.channels.base import TransientSendError
    from bot.channels.twilio import TwilioAdapter
    from bot.messages import OutboundMessage
    from tests.envs import free_port

    message = OutboundMessage(channel="whatsapp", address=ANNA, text="Grüezi",
                              sender=WHATSAPP_NUMBER)
    closed = TwilioAdapter("whatsapp", ACCOUNT_SID, AUTH_TOKEN, f"http://127.0.0.1:{free_port()}",
                           PUBLIC)
    with pytest.raises(TransientSendError, match="unreachable"):
        closed.send(message)
    silent = socket.socket()  # accepts the connection, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    slow = TwilioAdapter("whatsapp", ACCOUNT_SID, AUTH_TOKEN,
                         f"http://127.0.0.1:{silent.getsockname()[1]}", PUBLIC, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(TransientSendError, match="TimeoutError"):
        slow.send(message)
    assert time.monotonic() - started < 3
    silent.close()
    working = TwilioAdapter("whatsapp", ACCOUNT_SID, AUTH_TOKEN, twilio.url, PUBLIC)
    assert [working.send(message).status for _ in range(3)] == ["queued"] * 3  # kept alive
    assert [m.value("Body") for m in twilio.messages] == ["Grüezi"] * 3


def test_repeated_failures_open_the_circuit_and_readyz_shows_it(app, twilio, clock):
    twilio.fail_next(500, 20500, "Internal error", times=5)
    runtime = app.extensions["crms"]  # one at a time: which try meets the open circuit is fixed
    runtime.relay.parallel = 1
    runtime.work.pool = ThreadPoolExecutor(max_workers=1)
    client = app.test_client()
    for i in range(6):
        signed_post(client, "/webhooks/twilio", whatsapp("Grüezi", sid=f"SM{i:032d}",
                                                         sender=f"+4179777{i:04d}"))
    settle(app)
    assert len(twilio.messages) == 5  # the sixth waits behind the open circuit
    body = client.get("/readyz").json
    assert body["providers"]["twilio"] == "open" and body["degraded"] == ["twilio"]


@pytest.mark.parametrize("word, intent", [
    ("STOP", "opt_out"), ("Stopp", "opt_out"), ("ARRET", "opt_out"), ("arrêt", "opt_out"),
    ("ALT", "opt_out"), ("UNSUBSCRIBE", "opt_out"), ("START", "opt_in"), ("HELP", "help"),
])
def test_sms_keywords_in_all_languages(app, word, intent):
    signed_post(app.test_client(), "/webhooks/twilio", sms(word, "SM" + "4" * 32))
    settle(app)
    with app.extensions["crms"].db.session() as s:
        assert s.scalars(select(Message).where(Message.direction == "in")).one().intent == intent


def test_template_send_carries_content_sid_and_variables(app, twilio):
    from bot.messages import OutboundMessage

    adapter = app.extensions["crms"].services.channels["whatsapp"]
    adapter.send(OutboundMessage("whatsapp", ANNA, "", sender=WHATSAPP_NUMBER,
                                 template=("HX" + "a" * 32, {"1": "VW Golf", "2": "Mittwoch"})))
    [sent] = twilio.messages
    assert sent.value("ContentSid") == "HX" + "a" * 32 and sent.value("Body") == ""
    assert json.loads(sent.value("ContentVariables")) == {"1": "VW Golf", "2": "Mittwoch"}


def test_a_webhook_while_the_database_is_down_gets_503_to_retry(app):
    from sqlalchemy import create_engine

    runtime = app.extensions["crms"]
    runtime.db.engine = create_engine("sqlite:////nonexistent-dir/crms.sqlite3")  # unreachable
    response = signed_post(app.test_client(), "/webhooks/twilio", whatsapp("Grüezi"))
    assert response.status_code == 503  # Twilio retries it; nothing was stored or answered
    assert response.headers["Retry-After"] == "5"
    assert "database is unavailable" in response.get_json()["reason"]
