"""Telegram: the tenant's secret on webhooks, updates parsed with aiogram, replies through a
local Bot API server with the tenant's own bot."""

import pytest
from sqlalchemy import func, select

from bot import create_app
from bot.channels.pacing import Pacer
from bot.channels.registry import build_channels
from bot.models import Conversation, Message, Tenant
from bot.runtime import TenantTokens
from tests import fake_telegram
from tests.fakes import run_jobs_inline

TOKEN = "123456:TEST-token-of-alpenrent"
SECRET = "alpenrent-webhook-secret_0123456789"


@pytest.fixture
def botapi():  # type: ignore[no-untyped-def]
    api = fake_telegram.start()
    yield api
    api.close()


@pytest.fixture
def app(config, services, demo, botapi):  # type: ignore[no-untyped-def]
    config.telegram_api_base = botapi.url
    app = create_app(config, services)
    runtime = app.extensions["crms"]
    with runtime.db.session() as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == "alpenrent"))
        tenant.telegram_bot_token, tenant.telegram_webhook_secret = TOKEN, SECRET
    channels = build_channels(config, telegram_tokens=TenantTokens(runtime.db))
    for name in ("telegram", "staff"):  # no pacing here: test_pacing.py covers Telegram's limits
        services.channels[name] = channels[name]
        channels[name].pacer = Pacer(per_chat=0, per_group=0, per_bot=0)  # type: ignore[attr-defined]
    runtime.work.enqueue_conversation = runtime.engine.process_conversation  # handle at once
    run_jobs_inline(runtime)
    yield app
    channels["telegram"].close()


def update(update_id: int, text: str, chat_id: int = 777, language: str = "fr") -> dict:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1800000000, "text": text,
        "chat": {"id": chat_id, "type": "private", "first_name": "Chloé"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Chloé", "language_code": language}}}


def post(app, body, secret: str | None = SECRET):  # type: ignore[no-untyped-def]
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
    return app.test_client().post("/webhooks/telegram/alpenrent", json=body, headers=headers)


def settle(app) -> None:  # type: ignore[no-untyped-def]
    app.extensions["crms"].relay.run_once()


@pytest.mark.parametrize("secret", [None, "wrong"])
def test_wrong_or_missing_secret_is_403_and_stores_nothing(app, secret):
    assert post(app, update(1, "bonjour"), secret).status_code == 403
    with app.extensions["crms"].db.session() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 0


def test_a_message_is_answered_by_the_tenants_bot_in_the_users_language(app, botapi):
    assert post(app, update(10, "salut")).status_code == 200
    settle(app)
    [(token, method, args)] = botapi.calls
    assert (token, method) == (TOKEN, "sendMessage")
    assert int(args["chat_id"]) == 777
    assert args["text"].startswith("Bonjour ! Je suis l'assistant de Alpen Rent AG")


def test_a_resent_update_counts_once(app, botapi):
    for _ in range(3):
        assert post(app, update(11, "salut")).status_code == 200
    settle(app)
    assert len(botapi.sent()) == 1


def test_buttons_are_inline_keyboards_and_a_press_comes_back_as_the_payload(app, botapi):
    post(app, update(12, "je veux supprimer mes données"))
    settle(app)
    markup = botapi.sent()[0]["reply_markup"]
    assert [row[0]["callback_data"] for row in markup["inline_keyboard"]] == ["/yes", "/no"]
    press = {"update_id": 13, "callback_query": {
        "id": "cb1", "chat_instance": "x", "data": "/no",
        "from": {"id": 777, "is_bot": False, "first_name": "Chloé", "language_code": "fr"},
        "message": {"message_id": 1, "date": 1800000000, "chat": {"id": 777, "type": "private"}}}}
    assert post(app, press).status_code == 200
    settle(app)
    assert botapi.sent()[-1]["text"] == "D'accord, rien n'a été effacé."


def test_unknown_update_types_and_garbage(app, botapi):
    edited = {"update_id": 14, "edited_message": {**update(14, "salut")["message"],
                                                  "edit_date": 1800000001}}
    assert post(app, edited).status_code == 200  # a type the bot does not act on
    assert post(app, {"not": "an update"}).status_code == 400
    settle(app)
    assert botapi.calls == []


def test_429_retry_after_is_retried(app, botapi, clock):
    botapi.retry_after(3)
    post(app, update(15, "salut"))
    settle(app)
    clock.advance(seconds=30)
    app.extensions["crms"].relay.run_once()
    assert len(botapi.sent()) == 2  # the refused try and the one that went through


def test_a_tenant_without_a_bot_stays_in_sandbox(app, botapi, runtime):
    from bot.messages import OutboundMessage

    adapter = app.extensions["crms"].services.channels["telegram"]
    with runtime.db.session() as s:
        other = s.scalar(select(Tenant).where(Tenant.slug == "lemanauto")).id
    result = adapter.send(OutboundMessage("telegram", "555", "hello", tenant_id=other,
                                          idempotency_key="k1"))
    assert result.provider_message_id.startswith("SBX") and botapi.calls == []


def test_set_webhook_registers_the_url_with_the_secret(botapi, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from cryptography.fernet import Fernet
    from sqlalchemy import create_engine, text

    from tests.envs import service_env

    env = service_env()
    key = Fernet.generate_key().decode()
    env.update(CRMS_VAR_DIR=str(tmp_path), CRMS_DATABASE_URL=f"sqlite:///{tmp_path}/t.sqlite3",
               CRMS_DATA_KEY=key, CRMS_TELEGRAM_API_BASE=botapi.url,
               CRMS_PUBLIC_URL="https://bot.alpenrent.example")
    bin_ = str(Path(sys.executable).parent / "crms-bot")
    for args in (["db", "upgrade"], ["demo-data"]):
        subprocess.run([bin_, *args], env=env, check=True, capture_output=True)
    refused = subprocess.run([bin_, "telegram", "set-webhook", "alpenrent"], env=env,
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "has no Telegram bot token" in refused.stderr
    token = Fernet(key.encode()).encrypt(TOKEN.encode())
    with create_engine(env["CRMS_DATABASE_URL"]).begin() as conn:
        conn.execute(text("UPDATE tenants SET telegram_bot_token = :t WHERE slug = 'alpenrent'"),
                     {"t": token})
        secret = conn.execute(text("SELECT telegram_webhook_secret FROM tenants "
                                   "WHERE slug = 'alpenrent'")).scalar()
    done = subprocess.run([bin_, "telegram", "set-webhook", "alpenrent"], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    [(used_token, _, args)] = [c for c in botapi.calls if c[1] == "setWebhook"]
    assert used_token == TOKEN
    assert args["url"] == "https://bot.alpenrent.example/webhooks/telegram/alpenrent"
    assert args["secret_token"] == secret


def test_a_licence_photo_is_fetched_with_the_tenants_bot(app, botapi, chat):
    from bot.models import LicenceCheck

    chat("whatsapp", "+41791234504").say("bonjour")  # Chloé is identified on WhatsApp…
    jpeg = b"\xff\xd8\xff\xe0" + b"licence" * 100
    botapi.files["AgADphoto"] = ("photos/file_1.jpg", jpeg)
    body = update(20, "")
    body["message"].pop("text")
    body["message"]["photo"] = [
        {"file_id": "AgADsmall", "file_unique_id": "s", "width": 90, "height": 60, "file_size": 900},
        {"file_id": "AgADphoto", "file_unique_id": "b", "width": 1280, "height": 800,
         "file_size": len(jpeg)}]
    post(app, body)  # …and on Telegram must identify first: the photo waits for that
    post(app, update(21, "CR-48216 30.01.1996"))
    body["update_id"] = 22
    post(app, body)
    settle(app)
    with app.extensions["crms"].db.session() as s:
        check = s.scalars(select(LicenceCheck)).one()
        assert check.image == jpeg and check.content_type == "image/jpeg"
    assert any(c[1] == "getFile" and c[2]["file_id"] == "AgADphoto" for c in botapi.calls)
    assert any(a["text"].startswith("Merci ! Je lis votre permis de conduire")
               for a in botapi.sent())


def test_telegram_poll_handles_waiting_updates_once_and_refuses_while_a_webhook_is_set(
        botapi, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from cryptography.fernet import Fernet
    from sqlalchemy import create_engine, text

    from tests.envs import service_env

    env = service_env()
    key = Fernet.generate_key().decode()
    env.update(CRMS_VAR_DIR=str(tmp_path), CRMS_DATABASE_URL=f"sqlite:///{tmp_path}/p.sqlite3",
               CRMS_DATA_KEY=key, CRMS_TELEGRAM_API_BASE=botapi.url)
    bin_ = str(Path(sys.executable).parent / "crms-bot")
    for args in (["db", "upgrade"], ["demo-data"]):
        subprocess.run([bin_, *args], env=env, check=True, capture_output=True)
    subprocess.run([bin_, "company", "set", "alpenrent", "--telegram-token", TOKEN,
                    "--setting", "emergency_phone=+41 44 555 01 99"], env=env, check=True,
                   capture_output=True)
    listed = subprocess.run([bin_, "company", "list"], env=env, check=True, capture_output=True,
                            text=True).stdout
    assert '"telegram_bot": true' in listed
    with create_engine(env["CRMS_DATABASE_URL"]).begin() as conn:  # stored encrypted
        stored = conn.execute(text("SELECT telegram_bot_token, settings FROM tenants "
                                   "WHERE slug = 'alpenrent'")).one()
        assert TOKEN.encode() not in bytes(stored[0]) and "+41 44 555 01 99" in stored[1]
    botapi.webhook_url = "https://bot.alpenrent.example/webhooks/telegram/alpenrent"
    refused = subprocess.run([bin_, "telegram-poll", "--once"], env=env, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2 and "has a webhook set" in refused.stderr
    assert "telegram delete-webhook alpenrent" in refused.stderr
    assert not [c for c in botapi.calls if c[1] == "getUpdates"]

    subprocess.run([bin_, "telegram", "delete-webhook", "alpenrent"], env=env, check=True,
                   capture_output=True, timeout=60)
    press = {"update_id": 501, "callback_query": {
        "id": "cb501", "chat_instance": "x", "data": "/help",
        "from": {"id": 777, "is_bot": False, "first_name": "Chloé", "language_code": "fr"},
        "message": {"message_id": 1, "date": 1800000000, "chat": {"id": 777, "type": "private"}}}}
    botapi.updates += [update(500, "salut"), press]
    for _ in range(2):  # the same updates again: handled once
        done = subprocess.run([bin_, "telegram-poll", "--once"], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    texts = [a["text"] for a in botapi.sent() if int(a["chat_id"]) == 777]
    assert len(texts) == 2 and texts[0].startswith("Bonjour ! Je suis l'assistant")
    answered = [a for _, m, a in botapi.calls if m == "answerCallbackQuery"]
    assert [a["callback_query_id"] for a in answered] == ["cb501", "cb501"]  # each press answered


def test_a_document_goes_to_telegram_as_an_uploaded_file(app, botapi, runtime):
    from bot.documents import link, store
    from bot.outbox import enqueue

    post(app, update(600, "salut"))
    settle(app)
    pdf = b"%PDF-1.7\nqr-bill for CR-48214\n%%EOF"
    with runtime.db.session() as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == "alpenrent"))
        conv = s.scalars(select(Conversation)).one()
        document = store(s, tenant.id, "qr-bill-CR-48214.pdf", "application/pdf", pdf,
                         runtime.services.clock.now())
        url = link(runtime.config.public_url, document)
        enqueue(s, tenant_id=tenant.id, conversation_id=conv.id, channel="telegram",
                address=conv.address, payload={"text": "Ihre QR-Rechnung"},
                now=runtime.services.clock.now(), document_url=url)
    settle(app)
    [upload] = [a for _, m, a in botapi.calls if m == "sendDocument"]
    assert 'filename="qr-bill-CR-48214.pdf"' in upload["_multipart"]
    assert "qr-bill for CR-48214" in upload["_multipart"]


def test_the_telegram_language_sets_the_language_until_the_renter_writes_another(app, botapi):
    post(app, update(700, "CR-48214", language="it"))  # a reference shows no language
    settle(app)
    assert botapi.sent()[-1]["text"].startswith("Grazie. Per la sua sicurezza")
    post(app, update(701, "what are your opening hours please?", language="it"))
    settle(app)
    assert botapi.sent()[-1]["text"].startswith("Our opening hours: Mon–Fri")


def contact_update(update_id: int, phone: str, user_id: int = 777) -> dict:
    body = update(update_id, "", language="de")
    body["message"].pop("text")
    body["message"]["contact"] = {"phone_number": phone, "first_name": "Anna", "user_id": user_id}
    return body


def test_sharing_the_own_phone_finds_the_booking_and_someone_elses_contact_does_not(app, botapi):
    post(app, update(800, "wo ist meine Buchung?", language="de"))
    settle(app)
    ask = botapi.sent()[-1]
    assert ask["text"].startswith("Um Ihre Buchung zu finden") and "Telefonnummer" in ask["text"]
    [[button]] = ask["reply_markup"]["keyboard"]
    assert button["request_contact"] is True and button["text"] == "📱 Telefonnummer teilen"

    post(app, contact_update(801, "+41791234501", user_id=555))  # a card of somebody else
    settle(app)
    assert not botapi.sent()[-1]["text"].startswith("Danke, Anna")
    post(app, contact_update(802, "41791234501"))  # Telegram sends it without the plus
    settle(app)
    texts = [a["text"] for a in botapi.sent()[-2:]]
    assert texts[0] == "Danke, Anna! Ich habe Ihre Buchung CR-48213 gefunden."
    assert "CR-48213" in texts[1]  # and the question she asked is answered


def test_payment_methods_are_buttons_and_a_press_sends_the_link(app, botapi):
    post(app, update(900, "CR-48216 30.01.1996"))  # Chloé identifies on Telegram
    post(app, update(901, "combien dois-je encore payer ?"))
    settle(app)
    status = botapi.sent()[-1]
    assert [row[0]["callback_data"] for row in status["reply_markup"]["inline_keyboard"]] == [
        "/pay_online", "/pay_qr_bill"]
    assert status["reply_markup"]["inline_keyboard"][0][0]["text"] == "Payer en ligne (carte, TWINT)"
    press = {"update_id": 902, "callback_query": {
        "id": "cb902", "chat_instance": "x", "data": "/pay_online",
        "from": {"id": 777, "is_bot": False, "first_name": "Chloé", "language_code": "fr"},
        "message": {"message_id": 5, "date": 1800000000, "chat": {"id": 777, "type": "private"}}}}
    assert post(app, press).json["method"] == "answerCallbackQuery"
    settle(app)
    assert "/sandbox/pay/" in botapi.sent()[-1]["text"]
