"""Scaled-out mode against a real redis-server: shared locks and the RQ job queue."""

import os
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.locks import Leadership, LockTimeout, RedisLocks
from bot.messages import InboundMessage
from bot.models import Message
from bot.runtime import build_runtime

REDIS_URL = os.environ.get("CRMS_TEST_REDIS_URL")


@pytest.fixture
def redis_client():  # type: ignore[no-untyped-def]
    if not REDIS_URL:
        pytest.skip("Redis not configured (CRMS_TEST_REDIS_URL); CI runs these")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


def test_one_scheduler_leads_and_another_takes_over_when_it_dies(redis_client):
    import redis

    first = Leadership(redis_client, "scheduler", "host-a:1", ttl_seconds=0.3)
    second = Leadership(redis.Redis.from_url(REDIS_URL), "scheduler", "host-b:2",
                        ttl_seconds=0.3)
    assert first.lead() and not second.lead()
    time.sleep(0.2)
    assert first.lead() and not second.lead()  # renewed: still the leader after 0.4 s
    time.sleep(0.2)
    assert first.lead() and not second.lead()
    time.sleep(0.4)  # the first one died: its key expires
    assert second.lead() and not first.lead()  # and it cannot take back someone else's key


def test_redis_lock_excludes_across_clients(redis_client):
    import redis

    a = RedisLocks(redis_client)
    b = RedisLocks(redis.Redis.from_url(REDIS_URL))
    inside, overlaps = [], []

    def work(locks: RedisLocks) -> None:
        with locks.lock("conv:7"):
            inside.append(1)
            overlaps.append(len(inside))
            time.sleep(0.02)
            inside.pop()

    threads = [threading.Thread(target=work, args=(x,)) for x in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [1, 1, 1, 1]
    with a.lock("conv:8"):
        with pytest.raises(LockTimeout):
            with b.lock("conv:8", timeout=0.1):
                pass


def test_a_batch_takes_the_free_locks_and_leaves_those_held_elsewhere(redis_client):
    import redis

    batch = RedisLocks(redis_client)
    other = RedisLocks(redis.Redis.from_url(REDIS_URL))
    with other.lock("conv:1"):
        with batch.lock_free(["conv:1", "conv:2", "conv:3", "conv:2"]) as held:
            assert held == {"conv:2", "conv:3"}
            with pytest.raises(LockTimeout):  # held for the batch, against everyone
                with other.lock("conv:2", timeout=0.1):
                    pass
        with batch.lock_free(["conv:1"]) as held:  # still the other's after the batch
            assert held == set()
    with other.lock("conv:2", timeout=0.1), other.lock("conv:3", timeout=0.1):
        pass  # the batch gave its locks back


def test_inbound_goes_through_the_rq_queue(redis_client, config, services, demo):
    from rq import SimpleWorker

    config.redis_url = REDIS_URL
    runtime = build_runtime(config, services)
    assert type(runtime.services.locks).__name__ == "RedisLocks"
    receipt = runtime.engine.receive(InboundMessage("whatsapp", "+41791234501", "Grüezi",
                                                    "SMrq1", tenant_slug="alpenrent"))
    runtime.work.enqueue_conversation(receipt.conversation_id)
    assert runtime.work.queue.count == 1
    import bot.jobs

    bot.jobs.set_runtime(runtime)  # as `crms-bot worker` does
    try:
        SimpleWorker([runtime.work.queue], connection=redis_client).work(burst=True)
    finally:
        bot.jobs.set_runtime(None)
    with runtime.db.session() as s:
        out = s.scalars(select(Message).where(Message.direction == "out")).one()
    assert out.body.startswith("Grüezi!")
    assert out.status == "sent"  # the relay job queued after commit delivered it


def test_many_renters_share_one_waiting_job_and_each_is_answered(redis_client, config,
                                                                   services, demo, channels):
    from rq import SimpleWorker

    import bot.jobs

    config.redis_url = REDIS_URL
    runtime = build_runtime(config, services)
    work = runtime.work
    phones = ["+41791234501", "+41791234502", "+41791234503"]
    for i, phone in enumerate(phones):
        receipt = runtime.engine.receive(InboundMessage("whatsapp", phone, "Grüezi",
                                                        f"SMdrain{i}", tenant_slug="alpenrent"))
        work.enqueue_conversation(receipt.conversation_id)
    assert work.queue.count == 1  # one job waits for all three, not one job each
    work.draining()  # a worker started it: the next message queues a job for another worker
    receipt = runtime.engine.receive(InboundMessage("whatsapp", "+41791234504", "Grüezi",
                                                    "SMdrain9", tenant_slug="alpenrent"))
    work.enqueue_conversation(receipt.conversation_id)
    assert work.queue.count == 2
    bot.jobs.set_runtime(runtime)
    try:
        SimpleWorker([work.queue], connection=redis_client).work(burst=True)
    finally:
        bot.jobs.set_runtime(None)
    answered = sorted(m.address for m in channels["whatsapp"].sent)
    assert answered == [*phones, "+41791234504"]  # each renter once, nobody twice
    assert redis_client.llen(work.INBOUND) == 0


def test_a_licence_photo_waits_on_the_slow_queue_and_renters_are_answered_first(
        redis_client, config, services, demo, channels):
    """OCR takes seconds: a worker answers the messages waiting before it reads a photo."""
    from rq import SimpleWorker

    import bot.jobs
    from bot.messages import Media
    from bot.queues import QUEUES
    from bot.sample_licences import licence_photo

    config.redis_url = REDIS_URL
    runtime = build_runtime(config, services)
    work = runtime.work
    channels["whatsapp"].media["https://media/licence"] = ("image/jpeg", licence_photo(3)[0])
    photo = runtime.engine.receive(InboundMessage(
        "whatsapp", "+41791234501", "", "SMphoto", tenant_slug="alpenrent",
        media=(Media("https://media/licence", "image/jpeg"),)))
    runtime.answer(photo.conversation_id)  # "reading your licence…", and the OCR job queued
    assert (work.slow.count, work.queue.count) == (1, 0)
    question = runtime.engine.receive(InboundMessage("whatsapp", "+41791234502", "hilfe",
                                                     "SMhelp", tenant_slug="alpenrent"))
    work.enqueue_conversation(question.conversation_id)
    taken: list[str] = []

    class Recording(SimpleWorker):
        def execute_job(self, job, queue):  # type: ignore[no-untyped-def]
            taken.append(f"{queue.name}:{job.func_name}")
            return super().execute_job(job, queue)

    bot.jobs.set_runtime(runtime)
    try:
        Recording(list(QUEUES), connection=redis_client).work(burst=True)  # `crms-bot worker`
    finally:
        bot.jobs.set_runtime(None)
    # queued after the photo, the renter's message is answered first; the OCR then queues
    # the delivery of what the licence says
    assert taken[:2] == ["crms:bot.jobs.drain_inbound", "crms-slow:bot.jobs.read_licence"]
    sent = [(m.address, m.text) for m in channels["whatsapp"].sent]
    assert sent[0][0] == "+41791234501" and sent[0][1].startswith("Danke! Ich lese")
    assert sent[1][0] == "+41791234502"  # answered before the photo was read
    assert sent[-1][0] == "+41791234501"  # what the licence says, to confirm


def test_a_message_that_comes_while_redis_is_down_is_kept_and_answered_later(
        redis_client, config, services, demo, channels, clock, caplog):
    """The webhook answers 200 (Twilio would not send it again) and loses nothing."""
    from twilio.request_validator import RequestValidator

    from bot import create_app
    from tests.envs import free_port
    from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN

    config.redis_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    config.twilio_account_sid, config.twilio_auth_token = ACCOUNT_SID, AUTH_TOKEN
    config.public_url = "https://bot.example"
    app = create_app(config, services)
    params = {"MessageSid": "SMdown", "AccountSid": ACCOUNT_SID, "NumMedia": "0",
              "From": "whatsapp:+41791234501", "To": "whatsapp:+41445550102", "Body": "hilfe"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        "https://bot.example/webhooks/twilio", params)
    response = app.test_client().post("/webhooks/twilio", data=params,
                                      headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200
    assert "Redis unavailable (ConnectionError)" in caplog.text
    status = app.test_client().post("/webhooks/twilio/status", data={
        "MessageSid": "SMunknown", "MessageStatus": "delivered"}, headers={
        "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(
            "https://bot.example/webhooks/twilio/status",
            {"MessageSid": "SMunknown", "MessageStatus": "delivered"})})
    assert status.status_code == 200  # recorded; the delivery run it wakes waits for Redis
    config.redis_url = REDIS_URL  # Redis is back: the scheduler's recovery finds the message
    later = build_runtime(config, services)
    later.services.locks = RedisLocks(later.redis)  # the services are shared with `app`
    assert later.work.recover_inbound(clock.now() + timedelta(minutes=3)) == 1
    later.answer_batch(later.work.take_inbound(10))
    assert [m.address for m in channels["whatsapp"].sent] == ["+41791234501"]


def test_a_status_callback_queues_a_delivery_run_only_when_it_resends(redis_client, config,
                                                                      services, demo, channels):
    """Several callbacks come for every reply; only a 63016 refusal has something to send."""
    from twilio.request_validator import RequestValidator

    from bot import create_app
    from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN

    config.redis_url = REDIS_URL
    config.twilio_account_sid, config.twilio_auth_token = ACCOUNT_SID, AUTH_TOKEN
    config.public_url = "https://bot.example"
    app = create_app(config, services)
    runtime = app.extensions["crms"]
    receipt = runtime.engine.receive(InboundMessage("whatsapp", "+41791234501", "Grüezi",
                                                    "SMcb", tenant_slug="alpenrent"))
    runtime.answer(receipt.conversation_id)
    with runtime.db.session() as s:
        sid = s.scalars(select(Message).where(Message.direction == "out")).one() \
            .provider_message_id

    def callback(**form: str) -> int:
        form = {"MessageSid": sid, **form}
        signature = RequestValidator(AUTH_TOKEN).compute_signature(
            "https://bot.example/webhooks/twilio/status", form)
        return app.test_client().post("/webhooks/twilio/status", data=form, headers={
            "X-Twilio-Signature": signature}).status_code

    runtime.work.queue.empty()
    assert callback(MessageStatus="sent") == callback(MessageStatus="delivered") == 200
    assert runtime.work.queue.count == 0
    assert callback(MessageStatus="undelivered", ErrorCode="63016") == 200
    assert [job.func_name for job in runtime.work.queue.jobs] == ["bot.jobs.relay_outbox"]


def test_the_scheduler_outlives_a_redis_outage(tmp_path):
    """`crms-bot scheduler` logs a failed tick and tries again; it does not exit."""
    import subprocess
    import sys
    from pathlib import Path

    from tests.envs import free_port, service_env

    if not REDIS_URL:
        pytest.skip("Redis not configured (CRMS_TEST_REDIS_URL); CI runs these")
    env = service_env()
    env.update(CRMS_VAR_DIR=str(tmp_path), CRMS_DATABASE_URL=f"sqlite:///{tmp_path}/s.sqlite3",
               CRMS_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    bin_ = str(Path(sys.executable).parent / "crms-bot")
    subprocess.run([bin_, "db", "upgrade"], env=env, check=True, capture_output=True)
    scheduler = subprocess.Popen([bin_, "scheduler", "--every", "0.2"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        assert scheduler.poll() is None  # still running after several failed ticks
    finally:
        scheduler.terminate()
        _, err = scheduler.communicate(timeout=10)
    assert err.count("scheduler tick failed") >= 2 and "ConnectionError" in err


def test_messages_a_dead_worker_held_are_queued_again(redis_client, config, services, demo,
                                                      clock):
    config.redis_url = REDIS_URL
    runtime = build_runtime(config, services)
    receipt = runtime.engine.receive(InboundMessage("sms", "+41791234501", "hilfe", "SMlost",
                                                    tenant_slug="alpenrent"))
    # the webhook queued it, then the worker that took it died: the list entry is gone
    assert runtime.work.recover_inbound(clock.now() + timedelta(seconds=30)) == 0  # too early
    assert runtime.work.recover_inbound(clock.now() + timedelta(minutes=3)) == 1
    assert runtime.work.take_inbound(10) == [receipt.conversation_id]


def test_serve_with_redis_stops_its_worker_and_scheduler(redis_client, tmp_path):
    import signal
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    from tests.envs import free_port, service_env

    port = free_port()
    env = service_env()
    env.update(CRMS_VAR_DIR=str(tmp_path), CRMS_DATABASE_URL=f"sqlite:///{tmp_path}/s.sqlite3",
               CRMS_REDIS_URL=REDIS_URL)
    bin_ = str(Path(sys.executable).parent / "crms-bot")
    subprocess.run([bin_, "db", "upgrade"], env=env, check=True, capture_output=True)
    serve = subprocess.Popen([bin_, "serve", "--port", str(port)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        children: list[str] = []
        for _ in range(300):
            children = subprocess.run(["pgrep", "-P", str(serve.pid)], capture_output=True,
                                      text=True).stdout.split()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                if len(children) == 3:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        roles = sorted(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-2].decode()
                       for pid in children)
        # Granian's process that runs the web app (`serve --port N`), the scheduler, the worker
        assert roles == [str(port), "scheduler", "worker"]
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
        for pid in children:
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)
            assert not Path(f"/proc/{pid}").exists(), f"child {pid} outlived serve"
    finally:
        if serve.poll() is None:
            serve.kill()
