"""Rendering, log masking, the circuit breaker, backoff and in-process locks."""

import io
import logging
import random
import threading

import pytest

from bot.breaker import CircuitBreaker
from bot.locks import InProcessLocks
from bot.logging_setup import MaskingFilter, mask, mask_name
from bot.messages import Reply
from bot.outbox import MAX_DELAY, backoff
from bot.rendering import render

YES_NO = (("button.yes", "/yes"), ("button.no", "/no"))


def test_buttons_on_whatsapp_and_a_numbered_menu_on_sms():
    reply = Reply("change.cancel_confirm", {"ref": "CR-1"}, buttons=YES_NO)
    whatsapp = render(reply, "de", "whatsapp")
    assert [b.title for b in whatsapp.buttons] == ["Ja", "Nein"] and whatsapp.menu == {}
    sms = render(reply, "de", "sms")
    assert sms.buttons == () and sms.menu == {"1": "/yes", "2": "/no"}
    assert sms.text.endswith("1) Ja\n2) Nein\nAntworten Sie mit der Nummer Ihrer Wahl.")


def test_more_buttons_than_whatsapp_shows_become_a_menu():
    four = tuple((f"!L{i}", f"/lang {i}") for i in range(4))
    rendered = render(Reply("language.ask", buttons=four), "en", "whatsapp")
    assert rendered.buttons == () and "4) L3" in rendered.text


def test_long_text_is_cut_on_chat_channels_but_kept_whole_for_sms_splitting():
    reply = Reply("booking.status", {k: "x" * 500 for k in (
        "ref", "vehicle", "plate", "pickup", "pickup_location", "return_at", "return_location",
        "amount", "deposit", "status")})
    telegram = render(reply, "en", "telegram")
    assert len(telegram.text) == 4096 and telegram.text.endswith("…")
    assert len(render(reply, "en", "sms").text) > 5000


def test_phone_numbers_and_emails_are_masked_in_logs():
    assert mask("from whatsapp:+41791234501 to +41 44 555 01 01") == \
        "from whatsapp:+41*******01 to +41*******01"
    assert mask("mail anna.mueller@example.ch") == "mail a***@example.ch"
    assert mask_name("Anna Maria Müller") == "A. M. M."
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskingFilter())
    logger = logging.getLogger("test.masking")
    logger.addHandler(handler)
    logger.warning("renter %s wrote", "+41791234501")
    assert stream.getvalue() == "renter +41*******01 wrote\n"


def test_breaker_opens_after_threshold_and_half_opens_later():
    now = [0.0]
    breaker = CircuitBreaker("twilio", threshold=3, reset_after=30, clock=lambda: now[0])
    for _ in range(2):
        breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 31
    assert breaker.state == "half_open" and breaker.allow()
    breaker.record_failure()  # the trial call failed: open again at once
    assert breaker.state == "open"
    now[0] = 62
    breaker.record_success()
    assert breaker.state == "closed"


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(7)
    waits = [backoff(n, rng) for n in range(1, 12)]
    assert 1 <= waits[0] <= 2 and 8 <= waits[3] <= 16
    assert all(w <= MAX_DELAY for w in waits) and waits[-1] >= MAX_DELAY / 2
    assert len({round(backoff(3, rng), 6) for _ in range(5)}) == 5  # jitter


def test_in_process_lock_excludes():
    locks, inside, overlaps = InProcessLocks(), [], []

    def work() -> None:
        with locks.lock("conv:1"):
            inside.append(1)
            overlaps.append(len(inside))
            threading.Event().wait(0.01)
            inside.pop()

    threads = [threading.Thread(target=work) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [1] * 5


def test_personal_data_is_sealed_tamper_evident_and_old_fernet_values_still_read():
    from cryptography.fernet import Fernet

    from bot import crypto
    from tests.conftest import TEST_KEY

    crypto.configure(TEST_KEY)
    sealed = crypto.encrypt("Anna Müller".encode())
    assert b"Anna" not in sealed and crypto.encrypt(b"Anna") != crypto.encrypt(b"Anna")
    assert crypto.decrypt(sealed).decode() == "Anna Müller"
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(ValueError):
        crypto.decrypt(tampered)
    written_before = Fernet(TEST_KEY.encode()).encrypt(b"+41791234501")
    assert crypto.decrypt(written_before) == b"+41791234501"
    crypto.configure(Fernet.generate_key().decode())  # another deployment's key
    try:
        with pytest.raises(ValueError):
            crypto.decrypt(sealed)
    finally:
        crypto.configure(TEST_KEY)


def test_in_process_batch_locks_take_only_the_free_ones():
    locks = InProcessLocks()
    with locks.lock("conv:1"):
        with locks.lock_free(["conv:1", "conv:2"]) as held:
            assert held == {"conv:2"}
            with locks.lock_free(["conv:2"]) as again:
                assert again == set()
    with locks.lock_free(["conv:1", "conv:2"]) as held:
        assert held == {"conv:1", "conv:2"}


def test_the_sandbox_keeps_the_latest_uploads_only():
    from bot.channels.sandbox import SandboxAdapter

    adapter = SandboxAdapter("whatsapp")
    urls = [SandboxAdapter.keep_upload("image/jpeg", bytes([i])) for i in range(25)]
    assert adapter.fetch_media(urls[-1]).data == bytes([24])
    assert adapter.fetch_media(urls[5]).data == bytes([5])  # the latest 20 are there
    gone = adapter.fetch_media(urls[4])
    assert gone.data is None and "send it again" in gone.problem
