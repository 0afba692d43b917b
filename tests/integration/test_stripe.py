"""Stripe end to end: the checkout the bot asks for, signed webhooks, deposits, failures.

A local Stripe (tests/fake_stripe.py) takes the requests the `stripe` package makes; events
are signed with the webhook secret the way Stripe signs them and posted to /webhooks/stripe.
"""

from __future__ import annotations

import copy
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot import create_app, staff
from bot.models import AuditLog, OutboxItem, Payment, ProcessedEvent, Tenant
from bot.services.stripe_gateway import API_VERSION, StripeGateway
from bot.staff import StaffInput
from tests import fake_stripe
from tests.fake_stripe import SECRET_KEY, WEBHOOK_SECRET, event, signed
from tests.fakes import run_jobs_inline
from tests.transcript import Chat

ANNA = "+41791234501"  # CR-48213, CHF 1'234.50 due, deposit CHF 1'000, writes German
JAMES = "+41791234503"  # CR-48215, CHF 615.00, deposit CHF 1'500, writes English


@pytest.fixture
def stripe_api():  # type: ignore[no-untyped-def]
    server = fake_stripe.start()
    yield server
    server.close()


@pytest.fixture
def app(config, services, demo, stripe_api):  # type: ignore[no-untyped-def]
    config.stripe_secret_key, config.stripe_webhook_secret = SECRET_KEY, WEBHOOK_SECRET
    config.stripe_api_base = stripe_api.url
    services.payments = StripeGateway(SECRET_KEY, stripe_api.url, timeout=1.0)
    app = create_app(config, services)
    run_jobs_inline(app.extensions["crms"])
    return app


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


def renter(app, phone: str = ANNA, channel: str = "whatsapp") -> Chat:  # type: ignore[no-untyped-def]
    return Chat(app.extensions["crms"], channel, phone, "alpenrent")


def post_event(client, body: dict, secret: str = WEBHOOK_SECRET, at: int | None = None):  # type: ignore[no-untyped-def]
    payload, header = signed(body, secret, at)
    return client.post("/webhooks/stripe", data=payload,
                       headers={"Stripe-Signature": header, "Content-Type": "application/json"})


def completed(stripe_api, paid: str = "paid", account: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    """checkout.session.completed for the last session the bot created."""
    session = copy.deepcopy(list(stripe_api.sessions.values())[-1])
    session.update(status="complete", payment_status=paid,
                   payment_intent=session.get("payment_intent") or "pi_" + "1" * 24)
    return event("checkout.session.completed", session, account=account)


def payment(app, payment_id: int = 1) -> Payment:  # type: ignore[no-untyped-def]
    with app.extensions["crms"].db.session() as s:
        found = s.get(Payment, payment_id)
        assert found is not None
        return found


def set_account(app, slug: str, account: str) -> None:  # type: ignore[no-untyped-def]
    with app.extensions["crms"].db.session() as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == slug))
        tenant.settings = {**(tenant.settings or {}), "stripe_account": account}


def desk(app, conv_id: int, text: str) -> str:  # type: ignore[no-untyped-def]
    runtime = app.extensions["crms"]
    return staff.act(runtime.db, runtime.services.clock.now(),
                     StaffInput(1, text, "Petra", conversation_id=conv_id),
                     run_job=runtime.engine.run_job)


def test_twint_question_gets_a_chf_checkout_with_card_and_twint(app, stripe_api, clock):
    anna = renter(app)
    link = anna.say("kann ich mit TWINT zahlen?")[0]
    assert link.startswith("Sie können CHF 1’234.50 für die Buchung CR-48213 hier online mit "
                           "Karte oder TWINT bezahlen")
    assert "https://checkout.stripe.com/c/pay/cs_test_" in link
    [create] = stripe_api.created_sessions()
    form = create.form
    assert form["mode"] == "payment" and form["line_items[0][price_data][currency]"] == "chf"
    assert form["line_items[0][price_data][unit_amount]"] == "123450"  # Rappen
    assert [form["allowed_payment_method_types[0]"], form["allowed_payment_method_types[1]"]] \
        == ["card", "twint"]
    assert "payment_method_types[0]" not in form  # the old API's name
    assert form["locale"] == "de"
    assert form["metadata[crms_payment]"] == "1" and form["metadata[crms_tenant]"] == "1"
    assert form["metadata[crms_booking]"] == "CR-48213"
    assert form["payment_intent_data[metadata][crms_payment]"] == "1"
    assert "payment_intent_data[capture_method]" not in form  # paid at once
    expires = int(form["expires_at"]) - clock.now().timestamp()
    assert 30 * 60 <= expires <= 24 * 3600
    assert form["success_url"].startswith("http://127.0.0.1:8000/pay/1-")
    assert form["success_url"].endswith("/done?lang=de")
    assert create.header("Idempotency-Key") == "crms-payment-1"
    assert create.header("Stripe-Version") == API_VERSION
    assert create.header("Stripe-Account") is None  # the tenant has no Connect account
    assert anna.say("ich möchte online bezahlen")[0] == link  # the open link again
    assert len(stripe_api.created_sessions()) == 1


def test_a_signed_completed_event_confirms_once_in_german(app, client, stripe_api):
    anna = renter(app)
    anna.say("kann ich mit TWINT zahlen?")
    body = completed(stripe_api)
    answer = post_event(client, body)
    assert answer.status_code == 200 and answer.json["outcome"] == "applied"
    assert [m.body for m in anna.new_replies()] == [
        "Danke! Wir haben Ihre Zahlung von CHF 1’234.50 für die Buchung CR-48213 erhalten."]
    assert post_event(client, body).json["outcome"] == "duplicate"  # Stripe retried
    assert anna.new_replies() == []
    assert payment(app).status == "paid" and payment(app).intent_ref == "pi_" + "1" * 24
    with app.extensions["crms"].db.session() as s:
        entry = s.scalar(select(AuditLog).where(AuditLog.action == "payment.paid"))
        assert entry.actor == "stripe" and entry.details["booking"] == "CR-48213"
    assert anna.say("ist meine Zahlung angekommen?")[0].startswith(
        "Buchung CR-48213: CHF 0.00 offen, CHF 1’234.50 bezahlt.\nCHF 1’234.50 bezahlt mit")


@pytest.mark.parametrize("case", ["wrong secret", "old timestamp", "no header", "not json"])
def test_unsigned_forged_or_replayed_events_are_400_and_change_nothing(app, client, stripe_api,
                                                                       case):
    renter(app).say("online bezahlen")
    body = completed(stripe_api)
    if case == "wrong secret":
        answer = post_event(client, body, secret="whsec_someone_else")
    elif case == "old timestamp":  # a captured event replayed ten minutes later
        answer = post_event(client, body, at=int(time.time()) - 600)
    elif case == "no header":
        answer = client.post("/webhooks/stripe", json=body)
    else:
        payload, header = signed(body)
        answer = client.post("/webhooks/stripe", data=b"{" + payload,
                             headers={"Stripe-Signature": header})
    assert answer.status_code == 400
    assert payment(app).status == "open"
    with app.extensions["crms"].db.session() as s:
        assert s.scalar(select(func.count()).select_from(ProcessedEvent)) == 0


def test_an_event_that_overtakes_our_link_still_counts(app, client, stripe_api):
    """Stripe reports the payment while we are still storing the session it answered."""
    def pay_at_once(session: dict) -> None:
        paid = {**session, "status": "complete", "payment_status": "paid",
                "payment_intent": "pi_fast", "payment_method_types": ["twint"]}
        assert post_event(client, event("checkout.session.completed", paid)).status_code == 200
    stripe_api.on_session = pay_at_once
    anna = renter(app)
    replies = anna.say("mit TWINT bezahlen")
    assert replies == [
        "Danke! Wir haben Ihre Zahlung von CHF 1’234.50 für die Buchung CR-48213 erhalten."]
    record = payment(app)
    assert record.status == "paid" and record.paid_with == "twint"
    assert record.provider_ref is not None and record.provider_ref.startswith("cs_test_")


def test_an_event_for_a_payment_not_yet_committed_waits_for_it(app, client, stripe_api):
    early = event("checkout.session.completed", {
        "id": "cs_test_early", "object": "checkout.session", "payment_status": "paid",
        "payment_intent": "pi_early", "metadata": {"crms_payment": "1", "crms_tenant": "1"}})
    assert post_event(client, early).json["outcome"] == "waiting"
    anna = renter(app)
    replies = anna.say("online bezahlen")
    assert replies[0].startswith("Sie können CHF 1’234.50")  # the link, then at once:
    assert replies[1].startswith("Danke! Wir haben Ihre Zahlung von CHF 1’234.50")
    assert payment(app).status == "paid"
    with app.extensions["crms"].db.session() as s:
        assert s.scalar(select(ProcessedEvent.state)) == "done"


def test_stripe_5xx_and_timeouts_are_retried_with_the_same_key(app, stripe_api):
    stripe_api.fail_next(500)
    stripe_api.delay_next(1.5)  # longer than the client's 1 s timeout
    started = time.monotonic()
    link = renter(app).say("online bezahlen")[0]
    assert time.monotonic() - started >= 0.5  # backed off between the attempts
    assert "https://checkout.stripe.com/c/pay/cs_test_" in link
    attempts = stripe_api.created_sessions()
    assert len(attempts) == 3
    assert {a.header("Idempotency-Key") for a in attempts} == {"crms-payment-1"}
    assert len(stripe_api.sessions) == 1  # the timed-out attempt's session is the one sent
    assert list(stripe_api.sessions)[0] in link


def test_a_4xx_is_not_retried_and_staff_hear_of_it(app, stripe_api):
    stripe_api.fail_next(400, message="Account cannot accept CHF", kind="invalid_request_error")
    anna = renter(app)
    assert anna.say("online bezahlen") == [
        "Der Zahlungslink kann gerade nicht erstellt werden. Bitte versuchen Sie es in ein paar "
        "Minuten nochmals."]
    assert len(stripe_api.created_sessions()) == 1
    assert any("Account cannot accept CHF" in t for t in anna.staff_texts())
    assert payment(app).status == "error"
    assert "cs_test_" in anna.say("online bezahlen")[0]  # a new row, a new try


def test_deposit_is_a_card_hold_on_the_tenants_account_captured_in_part(app, client, stripe_api,
                                                                        clock):
    set_account(app, "alpenrent", "acct_1AlpenRent")
    anna = renter(app)
    no_twint = anna.new_replies() or anna.say("Kann ich die Kaution mit TWINT bezahlen?")
    assert no_twint[0].startswith("Mit TWINT kann keine Kaution reserviert werden")
    link = anna.say("/pay_deposit")[0]
    assert link.startswith("Für die Kaution von CHF 1’000.00 (Buchung CR-48213)")
    [create] = stripe_api.created_sessions()
    assert create.form["allowed_payment_method_types[0]"] == "card"
    assert "allowed_payment_method_types[1]" not in create.form  # no TWINT for a hold
    assert create.form["payment_intent_data[capture_method]"] == "manual"
    assert create.form["line_items[0][price_data][unit_amount]"] == "100000"
    assert create.header("Stripe-Account") == "acct_1AlpenRent"

    session = list(stripe_api.sessions.values())[0]
    fake_stripe.hold(stripe_api, session)  # the renter authorises the card on Stripe's page
    held = event("checkout.session.completed", {**session, "payment_status": "unpaid"},
                 account="acct_1AlpenRent", created=int(clock.now().timestamp()))
    assert post_event(client, held).json["outcome"] == "applied"
    assert anna.new_replies()[0].body.startswith("Danke! CHF 1’000.00 sind als Kaution")
    deposit = payment(app)
    assert deposit.status == "authorised" and deposit.hold_until == clock.now() + timedelta(days=7)
    assert "Kaution CHF 1’000.00: auf Ihrer Karte reserviert." in anna.say("was ist noch offen?")[0]

    assert desk(app, anna.conversation_id, "/deposit capture 250") == "deposit capture"
    capture = stripe_api.requests[-1]
    assert capture.path == f"/v1/payment_intents/{session['payment_intent']}/capture"
    assert capture.form == {"amount_to_capture": "25000"}
    assert capture.header("Stripe-Account") == "acct_1AlpenRent"
    assert capture.header("Idempotency-Key") == "crms-deposit-1-capture"
    assert anna.new_replies()[0].body.startswith(
        "Von der Kaution für die Buchung CR-48213 haben wir CHF 250.00 belastet")
    assert payment(app).status == "captured" and payment(app).captured_chf == Decimal("250.00")
    assert "Kaution CHF 1’000.00: CHF 250.00 belastet, der Rest freigegeben." in \
        anna.say("was ist noch offen?")[0]
    assert desk(app, anna.conversation_id, "/deposit release") == "deposit"  # settled already
    assert "belastet" in anna.staff_texts()[-1]


def test_returned_without_damage_releases_the_deposit(app, client, stripe_api, clock):
    james = renter(app, JAMES)
    james.say("I'd like to pay the deposit")
    session = list(stripe_api.sessions.values())[0]
    fake_stripe.hold(stripe_api, session)
    post_event(client, event("checkout.session.completed", {**session, "payment_status": "unpaid"},
                             created=int(clock.now().timestamp())))
    james.new_replies()
    assert desk(app, james.conversation_id, "/returned") == "deposit release"
    assert stripe_api.requests[-1].path.endswith("/cancel")
    assert [m.body for m in james.new_replies()] == [
        "The deposit of CHF 1’500.00 for booking CR-48215 is released. Depending on your bank "
        "the amount is available again within a few days."]
    assert payment(app).status == "released"
    # Stripe's own event about the cancellation afterwards changes nothing
    cancelled = {**stripe_api.intents[session["payment_intent"]]}
    assert post_event(client, event("payment_intent.canceled", cancelled)).json["outcome"] \
        == "unchanged"


def test_a_hold_about_to_lapse_warns_staff_once_and_a_lapse_is_told(app, client, stripe_api,
                                                                     clock):
    james = renter(app, JAMES)
    james.say("pay the deposit")
    session = list(stripe_api.sessions.values())[0]
    intent = fake_stripe.hold(stripe_api, session)
    post_event(client, event("payment_intent.amount_capturable_updated",
                             {**intent, "created": int(clock.now().timestamp())}))
    assert payment(app).status == "authorised"
    scheduler = app.extensions["crms"].scheduler
    clock.advance(days=5)
    scheduler.run_once()
    assert not any("lapses" in t for t in james.staff_texts())
    clock.advance(days=1, hours=1)
    scheduler.run_once()
    scheduler.run_once()
    warnings = [t for t in james.staff_texts() if "läuft am" in t]
    assert len(warnings) == 1 and "/deposit capture" in warnings[0]  # staff write German
    lapsed = {**intent, "status": "canceled", "cancellation_reason": "automatic"}
    post_event(client, event("payment_intent.canceled", lapsed))
    assert payment(app).status == "lapsed"
    assert any("ist abgelaufen" in t for t in james.staff_texts())


def test_events_naming_another_tenants_account_or_payment_are_ignored(app, client, stripe_api):
    set_account(app, "alpenrent", "acct_1AlpenRent")
    anna = renter(app)
    anna.say("online bezahlen")
    foreign = completed(stripe_api, account="acct_1LemanAuto")
    assert post_event(client, foreign).json["outcome"] == "ignored"
    platform = completed(stripe_api, account=None)  # the platform account is not Alpen Rent's
    assert post_event(client, platform).json["outcome"] == "ignored"
    forged = completed(stripe_api, account="acct_1AlpenRent")
    forged["data"]["object"]["metadata"]["crms_tenant"] = "2"  # Léman Auto's id, Alpen's row
    assert post_event(client, forged).json["outcome"] == "ignored"
    assert payment(app).status == "open" and anna.new_replies() == []
    assert post_event(client, completed(stripe_api, account="acct_1AlpenRent")).json["outcome"] \
        == "applied"


def test_a_dispute_alerts_staff_and_a_refund_is_told(app, client, stripe_api):
    james = renter(app, JAMES)
    james.say("pay online")
    post_event(client, completed(stripe_api))
    james.new_replies()
    intent = payment(app).intent_ref
    due = int(time.time()) + 7 * 86400
    dispute = {"id": "dp_1", "object": "dispute", "payment_intent": intent, "amount": 61500,
               "currency": "chf", "reason": "fraudulent", "evidence_details": {"due_by": due}}
    assert post_event(client, event("charge.dispute.created", dispute)).json["outcome"] == "applied"
    alert = james.staff_texts()[-1]
    assert "wird angefochten" in alert and "CHF 615.00" in alert and "fraudulent" in alert
    charge = {"id": "ch_1", "object": "charge", "payment_intent": intent, "amount": 61500,
              "amount_refunded": 10000, "refunded": False}
    assert post_event(client, event("charge.refunded", charge)).json["outcome"] == "applied"
    assert [m.body for m in james.new_replies()] == [
        "We refunded CHF 100.00 for booking CR-48215. Depending on your bank it takes a few "
        "days to arrive."]
    status = james.say("what is still open?")[0]
    assert status.startswith("Booking CR-48215: CHF 100.00 open, CHF 515.00 paid.")
    assert "CHF 100.00 of it refunded" in status


def test_the_pages_stripe_returns_to_speak_the_renters_language(app, client, stripe_api):
    renter(app, "+41791234504", "sms").say("je veux payer en ligne")  # Chloé, French
    form = stripe_api.created_sessions()[0].form
    assert form["locale"] == "fr"
    success, cancel = form["success_url"], form["cancel_url"]
    path = success.replace("http://127.0.0.1:8000", "")
    assert "est en cours" not in client.get(path).get_data(as_text=True)
    assert "Nous confirmons votre paiement" in client.get(path).get_data(as_text=True)
    post_event(client, completed(stripe_api))
    assert "est bien reçu" in client.get(path).get_data(as_text=True)
    page = client.get(cancel.replace("http://127.0.0.1:8000", "")).get_data(as_text=True)
    assert "a été interrompu" in page
    forged = path.replace("/pay/1-", "/pay/1-0")
    assert client.get(forged).status_code == 404


def test_nothing_to_pay_makes_no_checkout(app, client, stripe_api):
    anna = renter(app)
    anna.say("online bezahlen")
    post_event(client, completed(stripe_api))
    anna.new_replies()
    assert anna.say("online bezahlen") == [
        "Für die Buchung CR-48213 ist nichts mehr offen. Danke!"]
    assert len(stripe_api.created_sessions()) == 1
    with app.extensions["crms"].db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxItem)
                        .where(OutboxItem.channel == "staff")) == 0


def test_a_payment_a_day_later_is_confirmed_with_the_whatsapp_template(app, client, stripe_api,
                                                                       clock, channels):
    with app.extensions["crms"].db.session() as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == "alpenrent"))
        tenant.settings = {**(tenant.settings or {}), "whatsapp_templates": {"de": {
            "payment.confirmed": {"content_sid": "HX" + "c" * 32,
                                  "variables": ["amount", "ref"]}}}}
    anna = renter(app)
    anna.say("online bezahlen")
    clock.advance(hours=25)  # the 24-hour window has closed when the money arrives
    post_event(client, completed(stripe_api))
    app.extensions["crms"].relay.run_once()
    confirmation = channels["whatsapp"].sent[-1]
    assert confirmation.template == ("HX" + "c" * 32, {"1": "CHF 1’234.50", "2": "CR-48213"})
