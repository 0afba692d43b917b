"""Telegram's limits: 1 a second per chat, 20 a minute per group, 30 a second per bot."""

import pytest

from bot.channels.base import TransientSendError
from bot.channels.pacing import Pacer
from bot.channels.telegram import TelegramAdapter
from bot.messages import OutboundMessage
from tests import fake_telegram


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_message_a_second_per_chat_and_twenty_a_minute_per_group():
    clock = Clock()
    pacer = Pacer(clock)
    assert [pacer.reserve("bot", 7) for _ in range(3)] == [0.0, 1.0, 2.0]
    clock.now += 0.5  # a chat's later slot does not hold up the bot's other chats
    assert [pacer.reserve("bot", -100, group=True) for _ in range(3)] == [0.0, 3.0, 6.0]
    assert pacer.reserve("other-bot", 7) == 0.0  # each bot has its own limits
    clock.now += 10
    assert pacer.reserve("bot", 7) == 0.0


def test_thirty_a_second_per_bot_across_chats():
    pacer = Pacer(Clock())
    waits = [pacer.reserve("bot", chat) for chat in range(31)]
    assert waits[0] == 0.0 and waits[29] == pytest.approx(29 / 30)
    assert waits[30] == pytest.approx(1.0)


def test_a_wait_over_the_limit_is_not_booked():
    pacer = Pacer(Clock())
    pacer.reserve("bot", -1, group=True)
    assert pacer.reserve("bot", -1, group=True, max_wait=1.5) == 3.0
    assert pacer.reserve("bot", -1, group=True, max_wait=1.5) == 3.0  # still the same slot


def test_the_adapter_hands_long_waits_back_to_the_outbox():
    api = fake_telegram.start()
    adapter = TelegramAdapter("staff", lambda _tenant: "123:token", api.url)
    try:
        message = OutboundMessage("staff", "-1001", "first", tenant_id=1)
        adapter.send(message)
        with pytest.raises(TransientSendError) as raised:
            adapter.send(OutboundMessage("staff", "-1001", "second", tenant_id=1))
        assert raised.value.retry_in == pytest.approx(3.0, abs=0.2)
        assert [a["text"] for a in api.sent()] == ["first"]
    finally:
        adapter.close()
        api.close()
