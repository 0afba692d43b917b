"""Reliability of the engine and the outbox: once, in order, after crashes, under failures."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from bot.messages import InboundMessage, Media
from bot.models import Message, OutboxItem
from bot.outbox import MAX_ATTEMPTS, OutboxRelay
from bot.runtime import build_runtime
from nlu import RuleBasedParser

ANNA = "+41791234501"


def test_same_provider_id_is_handled_once(chat, runtime):
    renter = chat("whatsapp", ANNA)
    assert len(renter.say("Grüezi", provider_id="SM123")) == 1
    assert renter.say("Grüezi", provider_id="SM123") == []
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(
            Message.direction == "in")) == 1


class SlowParser(RuleBasedParser):
    def parse(self, text, today=None):  # type: ignore[no-untyped-def]
        time.sleep(0.05)
        return super().parse(text, today)


def test_two_messages_at_once_are_handled_in_order(runtime, demo):
    runtime.services.nlu = SlowParser()
    texts = ["Grüezi", "wo ist meine Buchung?", "hilfe", "danke"]
    receipts = [runtime.engine.receive(InboundMessage("whatsapp", ANNA, t, f"SM{i}",
                                                      tenant_slug="alpenrent"))
                for i, t in enumerate(texts)]
    conv_id = receipts[0].conversation_id
    threads = [threading.Thread(target=runtime.engine.process_conversation, args=(conv_id,))
               for _ in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with runtime.db.session() as s:
        outs = [m.body for m in s.scalars(select(Message).where(
            Message.direction == "out").order_by(Message.id))]
        ins = list(s.scalars(select(Message).where(Message.direction == "in")
                             .order_by(Message.processed_at, Message.id)))
    assert [m.body for m in ins] == texts
    assert outs[0].startswith("Grüezi!") and outs[1].startswith("Buchung CR-48213")
    assert outs[2].startswith("Ich helfe bei") and outs[3].startswith("Gern geschehen")


def test_a_reply_waits_for_the_renters_previous_send_then_goes_at_once(runtime, demo,
                                                                        channels):
    first = runtime.engine.receive(InboundMessage("whatsapp", ANNA, "Grüezi", "SMbusy1",
                                                  tenant_slug="alpenrent"))
    runtime.answer(first.conversation_id)
    assert len(channels["whatsapp"].sent) == 1
    with runtime.db.session() as s:  # the previous reply: another worker is sending it
        previous = s.scalars(select(OutboxItem)).one()
        previous.state, previous.claimed_by = "sending", "other-worker"
    second = runtime.engine.receive(InboundMessage("whatsapp", ANNA, "hilfe", "SMbusy2",
                                                   tenant_slug="alpenrent"))

    def other_worker_finishes() -> None:
        time.sleep(0.03)
        with runtime.db.session() as s:
            s.get(OutboxItem, previous.id).state = "sent"

    finisher = threading.Thread(target=other_worker_finishes)
    finisher.start()
    started = time.monotonic()
    runtime.answer(second.conversation_id)
    finisher.join()
    assert [m.text.split("\n")[0][:12] for m in channels["whatsapp"].sent][-1] == "Ich helfe be"
    assert time.monotonic() - started < 1.0  # not left for the next delivery round


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # Redis locks expire;
def test_a_message_another_worker_answered_meanwhile_gets_no_second_reply(runtime, demo,
                                                                          channels, clock,
                                                                          monkeypatch):
    """Scaled out, a conversation's lock can expire under a slow turn (embedded: it cannot)."""
    receipt = runtime.engine.receive(InboundMessage("whatsapp", ANNA, "hilfe", "SMtwice",
                                                    tenant_slug="alpenrent"))
    parse = runtime.services.nlu.parse

    def parse_while_another_worker_finishes(text, today=None):  # type: ignore[no-untyped-def]
        with runtime.db.transaction() as conn:  # the other worker, whose lock had expired
            conn.execute(Message.__table__.update().where(Message.id == receipt.message_id)
                         .values(processed_at=clock.now(), status="processed"))
        return parse(text, today)

    monkeypatch.setattr(runtime.services.nlu, "parse", parse_while_another_worker_finishes)
    runtime.answer(receipt.conversation_id)
    assert channels["whatsapp"].sent == []  # neither a second answer nor an apology
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxItem)) == 0


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_message_after_postgresql_dropped_the_connection_is_recorded(runtime, demo,
                                                                       database_url):
    """No ping per use: a pooled connection PostgreSQL dropped fails once and is replaced."""
    from sqlalchemy import create_engine

    with runtime.db.autocommit() as conn:  # the only connection of the webhooks' pool
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    admin = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as conn:  # as a PostgreSQL restart would
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    admin.dispose()
    receipt = runtime.engine.receive(InboundMessage("whatsapp", ANNA, "Grüezi", "SMafter",
                                                    tenant_slug="alpenrent"))
    assert receipt.message_id is not None and not receipt.duplicate


def test_killed_between_commit_and_send_the_row_goes_out_once(runtime, config, services, demo,
                                                             channels):
    runtime.engine.handle(InboundMessage("whatsapp", ANNA, "Grüezi", "SM1",
                                         tenant_slug="alpenrent"))
    assert channels["whatsapp"].sent == []  # "killed" before the worker ran
    restarted = build_runtime(config, services)
    assert restarted.relay.run_once() == 1
    assert restarted.relay.run_once() == 0
    assert len(channels["whatsapp"].sent) == 1
    assert channels["whatsapp"].sent[0].text.startswith("Grüezi!")


def test_two_workers_send_each_row_once(runtime, demo, channels, clock):
    for i in range(30):
        runtime.engine.handle(InboundMessage("whatsapp", f"+4179555{i:04d}", "hallo", f"SM{i}",
                                             tenant_slug="alpenrent"))
    relays = [OutboxRelay(runtime.db, runtime.services.channels, runtime.services.breakers,
                          clock, worker_id=f"w{i}") for i in range(2)]
    threads = [threading.Thread(target=r.run_once) for r in relays]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys = [m.idempotency_key for m in channels["whatsapp"].sent]
    assert len(keys) == 30 and len(set(keys)) == 30


def test_a_renters_next_message_waits_while_an_earlier_one_is_being_sent(chat, runtime,
                                                                         channels, clock):
    renter = chat("whatsapp", ANNA)
    renter.send("hallo")
    renter.send("hilfe")
    first, second = [r.id for r in renter.outbox()]
    with runtime.db.session() as s:  # another worker holds the first one, mid-send
        s.get(OutboxItem, first).state = "sending"
    assert runtime.relay.run_once() == 0 and channels["whatsapp"].sent == []
    with runtime.db.session() as s:
        s.get(OutboxItem, first).state = "sent"
    assert runtime.relay.run_once() == 1
    assert channels["whatsapp"].sent[0].idempotency_key == f"outbox-{second}"


def test_transient_failure_retries_with_backoff(chat, runtime, channels, clock):
    channels["whatsapp"].fail_next(2)
    chat("whatsapp", ANNA).say("Grüezi")
    assert runtime.relay.run_once() == 0
    with runtime.db.session() as s:
        row = s.scalars(select(OutboxItem)).one()
        assert row.state == "pending" and row.attempts == 1
        first_wait = row.next_attempt_at - clock.now()
    assert timedelta(seconds=0.9) <= first_wait <= timedelta(seconds=2)
    assert runtime.relay.run_once() == 0  # not due yet: nothing is tried
    clock.advance(seconds=3)
    assert runtime.relay.run_once() == 0
    clock.advance(seconds=5)
    assert runtime.relay.run_once() == 1
    assert len(channels["whatsapp"].sent) == 1


def test_permanent_failure_is_a_dead_letter_at_once(chat, runtime, channels):
    channels["whatsapp"].fail_next(permanent=True)
    chat("whatsapp", ANNA).say("Grüezi")
    runtime.relay.run_once()
    with runtime.db.session() as s:
        row = s.scalars(select(OutboxItem)).one()
        assert row.state == "dead" and "unreachable" in row.last_error
        assert s.get(Message, row.message_id).status == "failed"
    assert runtime.relay.retry_dead() == 1


def test_after_the_last_try_the_row_is_dead(chat, runtime, channels, clock):
    runtime.services.breakers = type(runtime.services.breakers)(threshold=1000)
    runtime.relay.breakers = runtime.services.breakers
    channels["whatsapp"].fail_next(MAX_ATTEMPTS)
    chat("whatsapp", ANNA).say("Grüezi")
    for _ in range(MAX_ATTEMPTS):
        runtime.relay.run_once()
        clock.advance(hours=1)
    with runtime.db.session() as s:
        row = s.scalars(select(OutboxItem)).one()
        assert row.state == "dead" and row.attempts == MAX_ATTEMPTS
    assert channels["whatsapp"].sent == []


def test_circuit_opens_and_messages_wait(chat, runtime, channels, clock):
    channels["whatsapp"].fail_next(5)
    for i in range(6):
        chat("whatsapp", f"+4179666{i:04d}").say("hallo")
    runtime.relay.run_once()
    assert runtime.services.breakers.get("twilio").state == "open"
    # Five failures used up the script; without the breaker the sixth row would have gone out.
    assert channels["whatsapp"].failures == [] and channels["whatsapp"].sent == []
    # The breaker runs on its own monotonic clock: move it past the pause.
    runtime.services.breakers.get("twilio")._opened_at -= 60  # type: ignore[operator]
    clock.advance(minutes=1)  # and the rows' own retry times
    runtime.relay.run_once()
    assert len(channels["whatsapp"].sent) == 6


def test_stale_claim_of_a_dead_worker_is_retried(chat, runtime, channels, clock):
    chat("whatsapp", ANNA).say("Grüezi")
    with runtime.db.session() as s:
        s.execute(text("UPDATE outbox SET state='sending', claimed_by='dead-worker'"))
        s.execute(text("UPDATE outbox SET claimed_at = next_attempt_at"))
    assert runtime.relay.run_once() == 0
    clock.advance(minutes=6)
    assert runtime.relay.run_once() == 1


def test_bad_inputs_get_a_clear_reply(chat):
    renter = chat("whatsapp", ANNA)
    renter.say("Grüezi")
    assert renter.say("") == [
        "Ich habe eine leere Nachricht erhalten. Wie kann ich helfen? "
        "Schreiben Sie 'Hilfe', um zu sehen, was ich kann."]
    assert renter.say("😀😀🙈")[0].startswith("Ich habe eine leere Nachricht")
    assert renter.say("a" * 10_000)[0].startswith("Diese Nachricht ist sehr lang")
    assert renter.say("\x00\xff\xfe\x01binär")  # answered, whatever the bytes
    assert "nur Fotos und PDFs" in renter.say(media=(Media("https://x/y", "audio/ogg"),))[0]
    assert renter.say("wo ist meine Buchung?")[0].startswith("Buchung CR-48213")


class ExplodingParser(RuleBasedParser):
    def parse(self, text, today=None):  # type: ignore[no-untyped-def]
        if "boom" in text:
            raise RuntimeError("model crashed")
        return super().parse(text, today)


def test_a_crash_while_handling_apologises_and_loses_nothing(chat, runtime):
    runtime.services.nlu = ExplodingParser()
    renter = chat("whatsapp", ANNA)
    assert renter.say("boom")[0].startswith("Entschuldigung, bei uns ist etwas schiefgelaufen")
    assert any("boom" in t for t in renter.staff_texts())
    with runtime.db.session() as s:
        msg = s.scalars(select(Message).where(Message.direction == "in")).one()
        assert msg.status == "failed" and msg.body == "boom"
    assert renter.say("hilfe")[0].startswith("Ich helfe bei")


def test_messages_received_before_a_crash_are_handled_after_restart(runtime, demo, config,
                                                                    services):
    runtime.engine.receive(InboundMessage("whatsapp", ANNA, "Grüezi", "SM9",
                                          tenant_slug="alpenrent"))
    restarted = build_runtime(config, services)
    pending = restarted.engine.pending_conversations()
    assert len(pending) == 1
    assert restarted.engine.process_conversation(pending[0]) == 1
    assert restarted.engine.pending_conversations() == []


def test_personal_data_is_encrypted_at_rest(chat, runtime):
    chat("whatsapp", ANNA).say("wo ist meine Buchung?")
    with runtime.db.engine.connect() as conn:
        raw = b"".join(bytes(v) for row in conn.execute(text(
            "SELECT name, phone, birth_date FROM customers UNION ALL "
            "SELECT body, payload, body FROM messages UNION ALL "
            "SELECT address, payload, address FROM outbox")) for v in row if v is not None)
    assert b"Anna" not in raw and b"41791234501" not in raw and b"1990-03-12" not in raw
    assert b"Buchung" not in raw and b"CR-48213" not in raw  # the reply's text, payloads too


BEN = "+41791234599"  # on no booking


def _receive(runtime, sender, text, sid):  # type: ignore[no-untyped-def]
    return runtime.engine.receive(InboundMessage("whatsapp", sender, text, sid,
                                                 tenant_slug="alpenrent")).conversation_id


def _replies(runtime, conversation_id):  # type: ignore[no-untyped-def]
    with runtime.db.session() as s:
        return [m.body for m in s.scalars(select(Message).where(
            Message.conversation_id == conversation_id, Message.direction == "out")
            .order_by(Message.id))]


def test_a_batch_answers_every_renter_in_order_and_sends_the_replies(runtime, demo, channels):
    """A drain job's batch: several renters' turns in one transaction, replies sent at once."""
    anna = _receive(runtime, ANNA, "Grüezi", "SMb1")
    assert _receive(runtime, ANNA, "wo ist meine Buchung?", "SMb2") == anna
    ben = _receive(runtime, BEN, "wo ist meine Buchung?", "SMb3")
    assert runtime.answer_batch([anna, ben, anna]) == 3
    anna_says, ben_says = _replies(runtime, anna), _replies(runtime, ben)
    assert anna_says[0].startswith("Grüezi!")
    assert anna_says[1].startswith("Buchung CR-48213")  # known by her phone, read for the batch
    assert len(ben_says) == 1 and ben_says[0].startswith("Um Ihre Buchung zu finden")  # who?
    sent = [(m.address, m.text) for m in channels["whatsapp"].sent]
    assert [text for address, text in sent if address == ANNA] == anna_says
    assert [text for address, text in sent if address == BEN] == ben_says
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(
            Message.direction == "in", Message.processed_at.is_(None))) == 0
        assert {row.state for row in s.scalars(select(OutboxItem))} == {"sent"}
        assert all(m.provider_message_id for m in s.scalars(select(Message).where(
            Message.direction == "out")))


def test_a_batch_leaves_a_renter_another_worker_holds(runtime, demo, channels):
    anna = _receive(runtime, ANNA, "Grüezi", "SMh1")
    ben = _receive(runtime, BEN, "Grüezi", "SMh2")
    with runtime.services.locks.lock(f"conv:{anna}"):  # another worker is on Anna's turn
        batch = runtime.engine.process_batch([anna, ben])
    assert batch.left == [anna] and batch.answered == {ben} and batch.handled == 1
    assert _replies(runtime, anna) == []
    assert runtime.answer_batch([anna]) == 1  # her own job gets to it
    assert _replies(runtime, anna)[0].startswith("Grüezi!")


def test_a_turn_failing_in_a_batch_holds_up_no_other_renter(runtime, demo, channels,
                                                            monkeypatch):
    """Nothing of the failed batch is kept; each renter then gets the one-by-one path."""
    parse = runtime.services.nlu.parse

    def fails_on_boom(text, today=None):  # type: ignore[no-untyped-def]
        if text == "boom":
            raise RuntimeError("parser broke")
        return parse(text, today)

    monkeypatch.setattr(runtime.services.nlu, "parse", fails_on_boom)
    anna = _receive(runtime, ANNA, "boom", "SMf1")
    ben = _receive(runtime, BEN, "hilfe", "SMf2")
    assert runtime.answer_batch([anna, ben]) == 2
    assert _replies(runtime, ben)[0].startswith("Ich helfe bei")
    anna_says = _replies(runtime, anna)
    assert len(anna_says) == 1 and "Entschuldigung" in anna_says[0]  # an apology, once
    with runtime.db.session() as s:
        statuses = dict(s.execute(select(Message.conversation_id, Message.status).where(
            Message.direction == "in")).all())
    assert statuses == {anna: "failed", ben: "processed"}


def test_a_status_callback_that_came_before_the_send_was_recorded_is_kept(runtime, demo,
                                                                          channels):
    """Replies are marked sent together after the sends; Twilio may have called back first."""
    anna = _receive(runtime, ANNA, "Grüezi", "SMs1")
    ben = _receive(runtime, BEN, "Grüezi", "SMs2")
    original = runtime.relay._mark_all_sent

    def delivered_first(sent, **kwargs):  # type: ignore[no-untyped-def]
        with runtime.db.session() as s:  # the callback for Anna's reply won the race
            for claim, _, _ in sent:
                if s.get(OutboxItem, claim.row_id).address == ANNA:
                    s.get(Message, claim.message_id).status = "delivered"
        return original(sent, **kwargs)

    runtime.relay._mark_all_sent = delivered_first
    runtime.answer_batch([anna, ben])
    with runtime.db.session() as s:
        status = dict(s.execute(select(Message.conversation_id, Message.status).where(
            Message.direction == "out")).all())
    assert status[anna] == "delivered"  # not moved back
    assert status[ben] == "sent"  # moved on from queued


def test_embedded_work_answers_the_renters_waiting_together(runtime, demo, channels):
    """Without Redis, conversations queued while a batch runs are answered in the next one."""
    renters = [f"+4179123460{i}" for i in range(6)]
    ids = [_receive(runtime, number, "hilfe", f"SMe{i}") for i, number in enumerate(renters)]
    batches, answer_batch = [], runtime.answer_batch
    started, go_on = threading.Event(), threading.Event()

    def recorded(batch):  # type: ignore[no-untyped-def]
        batches.append(list(batch))
        started.set()
        go_on.wait(5)  # the first batch is busy while the others arrive
        return answer_batch(batch)

    runtime.answer_batch = recorded
    runtime.work.DRAINERS = 1  # one thread drains: the rest must wait for its next batch
    runtime.work.enqueue_conversation(ids[0])
    assert started.wait(5)
    for conversation_id in ids[1:]:
        runtime.work.enqueue_conversation(conversation_id)
    go_on.set()
    runtime.work.pool.shutdown(wait=True)
    assert batches == [ids[:1], ids[1:]]  # each renter once; those waiting together
    assert sorted(m.address for m in channels["whatsapp"].sent) == sorted(renters)
    assert all(m.text.startswith("Ich helfe bei") for m in channels["whatsapp"].sent)


def test_a_reply_written_while_the_renters_previous_one_was_sent_follows_it(runtime, demo,
                                                                            channels, clock):
    """Another worker wrote it but could not claim it: the sending worker takes it along."""
    first = _receive(runtime, ANNA, "Grüezi", "SMn1")
    runtime.engine.process_conversation(first, notify=False)
    with runtime.db.session() as s:  # this worker claims the first reply and starts sending
        claims = runtime.relay.claim_due(s, clock.now(), conversation_id=first)
    assert _receive(runtime, ANNA, "hilfe", "SMn2") == first
    runtime.engine.process_conversation(first, notify=False)  # meanwhile: the second reply
    with runtime.db.session() as s:  # which nobody can claim while the first is out
        assert runtime.relay.claim_due(s, clock.now(), conversation_id=first) == []
    assert runtime.relay.deliver(claims) == 2
    texts = [m.text for m in channels["whatsapp"].sent]
    assert texts[0].startswith("Grüezi!") and texts[1].startswith("Ich helfe bei")
    with runtime.db.session() as s:
        assert [row.state for row in s.scalars(select(OutboxItem))] == ["sent", "sent"]


def test_an_unexpected_send_error_leaves_the_next_reply_unclaimed(runtime, demo, channels,
                                                                  clock, monkeypatch):
    """Nothing is claimed on the way out of a failed send: no reply stuck as 'sending'."""
    anna, ben = _receive(runtime, ANNA, "Grüezi", "SMx1"), _receive(runtime, BEN, "Grüezi", "SMx2")
    for conversation_id in (anna, ben):
        runtime.engine.process_conversation(conversation_id, notify=False)
    with runtime.db.session() as s:  # this worker sends both renters' replies
        claims = runtime.relay.claim_due(s, clock.now(), conversation_ids=[anna, ben])
    _receive(runtime, ANNA, "hilfe", "SMx3")
    runtime.engine.process_conversation(anna, notify=False)  # Anna's next, written meanwhile
    send = channels["whatsapp"].send

    def broken_for_ben(message):  # type: ignore[no-untyped-def]
        if message.address == BEN:
            raise RuntimeError("adapter bug")
        return send(message)

    monkeypatch.setattr(channels["whatsapp"], "send", broken_for_ben)
    with pytest.raises(RuntimeError):
        runtime.relay.deliver(claims)
    with runtime.db.session() as s:
        states = {(row.address, (row.payload or {}).get("text", "")[:5]): row.state
                  for row in s.scalars(select(OutboxItem))}
    assert states == {(ANNA, "Grüez"): "sent", (BEN, "Grüez"): "sending",  # left to its lease
                      (ANNA, "Ich h"): "pending"}  # free for the next delivery round


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("batch", [False, True])
def test_a_renters_next_message_is_recorded_while_the_last_one_is_answered(runtime, demo,
                                                                            monkeypatch, batch):
    """The turn's row lock keeps other turns out, not the webhook (no wait for its commit)."""
    anna = _receive(runtime, ANNA, "Grüezi", "SMn1")
    ben = _receive(runtime, BEN, "Grüezi", "SMn0")
    parse, recorded = runtime.services.nlu.parse, []

    def parse_while_the_next_webhook_comes(text, today=None):  # type: ignore[no-untyped-def]
        if not recorded:
            webhook = threading.Thread(target=lambda: recorded.append(
                _receive(runtime, ANNA, "wo ist meine Buchung?", "SMn2")))
            webhook.start()
            webhook.join(timeout=5)  # FOR UPDATE on the conversation would hold it to the commit
            recorded.append(not webhook.is_alive())
        return parse(text, today)

    monkeypatch.setattr(runtime.services.nlu, "parse", parse_while_the_next_webhook_comes)
    handled = runtime.answer_batch([anna, ben]) if batch else runtime.answer(anna)
    assert recorded == [anna, True] and handled == (2 if batch else 1)
    assert runtime.answer(anna) == 1  # the next drain answers it
    assert [body[:8] for body in _replies(runtime, anna)] == ["Grüezi! ", "Buchung "]


def test_a_list_bound_at_execution_matches_like_in_and_keeps_one_statement(runtime):
    """`among`: IN on SQLite; one array parameter on PostgreSQL, whatever the list's length."""
    from sqlalchemy import event

    from bot.db import among
    from bot.models import Tenant

    tenants = Tenant.__table__.c
    query = select(tenants.slug).where(among(tenants.id, "ids")).order_by(tenants.slug)
    sent: set[str] = set()
    with runtime.db.session() as s:
        s.add_all([Tenant(slug=f"t{i}", name=f"T{i}") for i in range(4)])
        s.flush()
        ids = {slug: i for i, slug in s.execute(select(tenants.id, tenants.slug))}
        event.listen(runtime.db.engine, "before_cursor_execute",
                     lambda conn, cursor, statement, *args: sent.add(statement))
        for wanted in ([], ["t1"], ["t0", "t2", "t3"]):
            assert s.scalars(query, {"ids": [ids[w] for w in wanted]}).all() == wanted
    # PostgreSQL prepares and plans it once per connection; SQLite gets the list inline
    assert len(sent) == (1 if runtime.db.is_postgres else 3)


def test_a_number_moved_to_another_company_routes_there_at_once(runtime, demo):
    """Webhooks find their company through the tenant cache: a change here is seen at once."""
    from bot.engine import UnknownTenant
    from bot.models import Tenant

    def to(number, sid):  # type: ignore[no-untyped-def]
        return runtime.engine.receive(InboundMessage("whatsapp", ANNA, "Grüezi", sid,
                                                     to=f"whatsapp:{number}"))

    with runtime.db.session() as s:
        old = s.scalar(select(Tenant).where(Tenant.slug == "alpenrent")).whatsapp_number
    first = to(old, "SMmove1")
    with runtime.db.session() as s:
        s.scalar(select(Tenant).where(Tenant.slug == "alpenrent")).whatsapp_number = "+41445550199"
    assert to("+41445550199", "SMmove2").conversation_id == first.conversation_id
    with pytest.raises(UnknownTenant):
        to(old, "SMmove3")


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_status_callback_probes_the_index_instead_of_scanning_it(runtime):
    """Several callbacks come for every reply: each finds its message in a few index reads."""
    import json

    from sqlalchemy import event

    from bot.delivery_status import record_callback

    seen: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith("SELECT") and "messages" in statement:
            seen.append((statement, parameters))

    event.listen(runtime.db.engine, "before_cursor_execute", remember)
    with runtime.db.session() as s:
        assert record_callback(s, ("whatsapp", "sms"), "SMnone", "delivered", None) == (None, False)
    event.remove(runtime.db.engine, "before_cursor_execute", remember)
    [(statement, parameters)] = seen
    with runtime.db.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # the plan of a large table
        plan = json.dumps(conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement,
                                               parameters).scalar())
    assert "uq_messages_channel_provider_message_id" in plan
    assert '"Index Cond": "(((channel)::text = ANY' in plan  # the leading column: probes


def test_payloads_written_before_0009_are_sealed_by_the_upgrade_and_read_back(runtime):
    """The upgrade encrypts what earlier versions stored in plain JSON; a downgrade reverses."""
    import json

    from alembic import command
    from alembic.config import Config as AlembicConfig

    from bot import crypto
    from bot.db import MIGRATIONS
    from bot.models import Conversation, Tenant

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = runtime.db.engine
    command.downgrade(cfg, "0008")
    reply = {"text": "Buchung CR-48213 für Anna Müller", "buttons": []}
    with runtime.db.engine.begin() as conn:
        tenant = conn.execute(Tenant.__table__.insert().values(slug="old", name="Old")
                              .returning(Tenant.__table__.c.id)).scalar_one()
        conv = conn.execute(Conversation.__table__.insert().values(
            tenant_id=tenant, channel="sms", address="+41791234501", address_hash="h", data={},
            verified=False, staff_mode=False, urgent=False, fallback_count=0, failed_attempts=0,
            created_at=runtime.services.clock.now()).returning(Conversation.__table__.c.id)
        ).scalar_one()
        conn.execute(text(
            "INSERT INTO messages (tenant_id, conversation_id, direction, channel, payload, "
            "status, created_at) VALUES (:t, :c, 'out', 'sms', :p, 'sent', :now)"),
            {"t": tenant, "c": conv, "p": json.dumps(reply), "now": "2027-03-08 09:00:00"})
        conn.execute(text(
            "INSERT INTO outbox (tenant_id, conversation_id, channel, address, payload, state, "
            "attempts, next_attempt_at, created_at) VALUES (:t, :c, 'sms', :a, :p, 'sent', 0, "
            ":now, :now)"), {"t": tenant, "c": conv, "a": crypto.encrypt(b"+41791234501"),
                             "p": json.dumps(reply),
                             "now": "2027-03-08 09:00:00"})
    command.upgrade(cfg, "head")
    with runtime.db.engine.connect() as conn:
        raw = [bytes(v) for v in conn.execute(text(
            "SELECT payload FROM messages UNION ALL SELECT payload FROM outbox")).scalars()]
    assert len(raw) == 2 and not any(b"Anna" in v or b"CR-48213" in v for v in raw)
    with runtime.db.session() as s:
        assert s.scalars(select(Message)).one().payload == reply
        assert s.scalars(select(OutboxItem)).one().payload == reply
    command.downgrade(cfg, "0008")
    with runtime.db.engine.connect() as conn:
        stored = conn.execute(text("SELECT payload FROM outbox")).scalar_one()
    assert (json.loads(stored) if isinstance(stored, str) else stored) == reply
    command.upgrade(cfg, "head")
