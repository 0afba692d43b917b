"""Staff in the tenant's Telegram group: a topic per renter, the relay both ways, commands,
against a local Bot API server (and a local Twilio for the WhatsApp renter)."""

from sqlalchemy import select

from bot.channels.registry import build_channels
from bot.models import Conversation, OutboxItem, Tenant
from tests import fake_twilio
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN
from tests.integration.test_telegram import app, botapi, post, settle, update  # noqa: F401

STAFF_CHAT = -1001000000001  # the demo tenant's staff group
PETRA = {"id": 4242, "is_bot": False, "first_name": "Petra", "last_name": "Muster"}


def staff_update(update_id: int, text: str, thread: int | None, chat: int = STAFF_CHAT,
                 user: dict | None = None) -> dict:
    message = {"message_id": 9000 + update_id, "date": 1800000000, "text": text,
               "chat": {"id": chat, "type": "supergroup", "title": "Alpen Rent Team",
                        "is_forum": True},
               "from": user or PETRA}
    if thread is not None:
        message.update(message_thread_id=thread, is_topic_message=True)
    return {"update_id": update_id, "message": message}


def to_group(botapi) -> list[dict]:  # noqa: F811
    return [a for a in botapi.sent() if int(a["chat_id"]) == STAFF_CHAT]


def to_renter(botapi, chat_id: int = 777) -> list[str]:  # noqa: F811
    return [a["text"] for a in botapi.sent() if int(a["chat_id"]) == chat_id]


def test_an_accident_gets_emergency_help_and_a_staff_topic_then_staff_answer_and_close(
        app, botapi):  # noqa: F811
    post(app, update(30, "I had an accident", language="en"))
    settle(app)
    assert "144" in to_renter(botapi)[0] and "+41 44 555 01 00" in to_renter(botapi)[0]
    [(_, _, topic)] = [c for c in botapi.calls if c[1] == "createForumTopic"]
    assert int(topic["chat_id"]) == STAFF_CHAT and topic["name"].endswith("· telegram")
    [summary] = to_group(botapi)
    assert summary["text"].startswith("🚨 #1 (telegram): Unfall oder Panne gemeldet")
    assert "I had an accident" in summary["text"]
    thread = int(summary["message_thread_id"])

    post(app, update(31, "the car is in a ditch near Chur", language="en"))
    settle(app)
    assert to_group(botapi)[-1]["text"].endswith("the car is in a ditch near Chur")
    assert int(to_group(botapi)[-1]["message_thread_id"]) == thread  # the same topic

    assert post(app, staff_update(32, "Hello, this is Petra. A tow truck is on its way.",
                                  thread)).status_code == 200
    settle(app)
    assert to_renter(botapi)[-1] == "Hello, this is Petra. A tow truck is on its way."
    settle(app)  # the delivery shown back on Petra's message: the next delivery round
    reactions = [a for _, m, a in botapi.calls if m == "setMessageReaction"]
    assert int(reactions[-1]["message_id"]) == 9032  # Petra sees her message went out

    post(app, staff_update(33, "/close@AlpenRentBot", thread))
    settle(app)
    assert to_renter(botapi)[-1].startswith("Our team has handed the conversation back")
    assert "Petra Muster hat das Gespräch an den Bot zurückgegeben" in to_group(botapi)[-1]["text"]
    with app.extensions["crms"].db.session() as s:
        conv = s.scalars(select(Conversation)).one()
        assert (conv.staff_mode, conv.staff_topic_id) == (False, thread)


def test_staff_updates_count_once(app, botapi):  # noqa: F811
    post(app, update(40, "can I speak to a person?", language="en"))
    settle(app)
    thread = int(to_group(botapi)[0]["message_thread_id"])
    for _ in range(3):
        post(app, staff_update(41, "Hi, Petra here", thread))
    settle(app)
    assert to_renter(botapi).count("Hi, Petra here") == 1


def test_messages_from_elsewhere_change_nothing(app, botapi, runtime):  # noqa: F811
    post(app, update(50, "can I speak to a person?", language="en"))
    settle(app)
    thread = int(to_group(botapi)[0]["message_thread_id"])
    before = len(botapi.calls)
    post(app, staff_update(51, "/close", thread, chat=-1009999999999))  # another group
    post(app, staff_update(52, "hi", thread, user={"id": 1, "is_bot": True, "first_name": "Bot"}))
    with runtime.db.session() as s:  # only listed staff may act, when the tenant lists them
        tenant = s.scalar(select(Tenant).where(Tenant.slug == "alpenrent"))
        tenant.settings = {**tenant.settings, "staff_user_ids": [4242]}
    post(app, staff_update(53, "/close", thread, user={"id": 999, "is_bot": False,
                                                       "first_name": "Intruder"}))
    settle(app)
    assert len(botapi.calls) == before
    with runtime.db.session() as s:
        assert s.scalars(select(Conversation)).one().staff_mode is True
    post(app, staff_update(54, "/claim", thread))  # Petra is on the list
    settle(app)
    assert "Petra Muster hat das Gespräch übernommen" in to_group(botapi)[-1]["text"]


def test_a_deleted_topic_is_opened_again(app, botapi):  # noqa: F811
    post(app, update(60, "can I speak to a person?", language="en"))
    settle(app)
    botapi.fail_next("Bad Request: message thread not found")
    post(app, update(61, "hello?", language="en"))
    settle(app)
    assert len([c for c in botapi.calls if c[1] == "createForumTopic"]) == 2
    assert to_group(botapi)[-1]["text"].endswith("hello?")
    assert int(to_group(botapi)[-1]["message_thread_id"]) == 101


def test_a_rate_limited_message_waits_as_told_without_counting_a_failure(
        app, botapi, clock):  # noqa: F811
    app.extensions["crms"].relay.parallel = 1  # the staff summary is the first call
    botapi.retry_after(7)
    post(app, update(70, "can I speak to a person?", language="en"))
    settle(app)
    with app.extensions["crms"].db.session() as s:
        row = s.scalars(select(OutboxItem).where(OutboxItem.channel == "staff")).one()
        assert (row.state, row.attempts) == ("pending", 0)
        assert (row.next_attempt_at - clock.now()).total_seconds() == 7
    assert to_group(botapi) == []
    clock.advance(seconds=8)
    settle(app)
    assert to_group(botapi)[-1]["text"].startswith("🔔 #1 (telegram)")


def test_a_button_press_is_answered_in_the_webhook_response(app):  # noqa: F811
    press = {"update_id": 80, "callback_query": {
        "id": "cb80", "chat_instance": "x", "data": "/no",
        "from": {"id": 777, "is_bot": False, "first_name": "Chloé", "language_code": "fr"},
        "message": {"message_id": 1, "date": 1800000000, "chat": {"id": 777, "type": "private"}}}}
    assert post(app, press).json == {"method": "answerCallbackQuery", "callback_query_id": "cb80"}


def test_a_whatsapp_renter_is_answered_by_staff_in_telegram_and_gets_it_on_whatsapp(
        app, botapi, config, services):  # noqa: F811
    from tests.integration.test_twilio import signed_post, whatsapp

    twilio = fake_twilio.start()
    try:
        config.twilio_account_sid, config.twilio_auth_token = ACCOUNT_SID, AUTH_TOKEN
        config.twilio_api_base = twilio.url
        channels = build_channels(config)
        services.channels.update(whatsapp=channels["whatsapp"], sms=channels["sms"])
        runtime = app.extensions["crms"]
        runtime.config.twilio_auth_token = AUTH_TOKEN
        signed_post(app.test_client(), "/webhooks/twilio",
                    whatsapp("Ich möchte mit einem Menschen sprechen", sid="SM" + "7" * 32),
                    url=config.public_url + "/webhooks/twilio")
        settle(app)
        summary = to_group(botapi)[0]
        assert "(whatsapp)" in summary["text"]
        thread = int(summary["message_thread_id"])
        post(app, staff_update(90, "Grüezi Anna, hier ist Petra.", thread))
        settle(app)
        sent = [m for m in twilio.messages if m.value("Body") == "Grüezi Anna, hier ist Petra."]
        assert [m.value("To") for m in sent] == ["whatsapp:+41791234501"]
        assert sent[0].value("StatusCallback").endswith("/webhooks/twilio/status")
    finally:
        twilio.close()
        twilio.cdn.close()  # type: ignore[union-attr]
