"""Paying by link in chat: the sandbox gateway, the same link twice, the outcome in chat."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from bot import create_app
from bot.models import AuditLog, Payment
from tests.fakes import run_jobs_inline

ANNA = "+41791234501"


def test_payment_link_is_sent_once_and_resent_while_open(chat, runtime):
    renter = chat("whatsapp", ANNA)
    first = renter.say("kann ich mit TWINT bezahlen?")[0]
    assert first.startswith("Sie können CHF 1’234.50 für die Buchung CR-48213 hier online")
    assert "http://127.0.0.1:8000/sandbox/pay/sbx_cs_1_" in first
    again = renter.say("ich möchte online bezahlen")[0]
    assert again == first
    with runtime.db.session() as s:
        assert s.scalar(select(Payment).where(Payment.status == "open")).amount_chf == 1234.5
        assert len(list(s.scalars(select(Payment)))) == 1


def test_expired_link_is_replaced(chat, runtime, clock):
    renter = chat("whatsapp", ANNA)
    first = renter.say("online bezahlen")[0]
    clock.advance(hours=25)
    second = renter.say("online bezahlen")[0]
    assert second != first and "sbx_cs_2_" in second
    with runtime.db.session() as s:
        assert [p.status for p in s.scalars(select(Payment).order_by(Payment.id))] == \
            ["expired", "open"]


@pytest.fixture
def client(config, services, demo):  # type: ignore[no-untyped-def]
    app = create_app(config, services)
    run_jobs_inline(app.extensions["crms"])
    return app.test_client()


def pay_link(renter, question: str = "I want to pay online") -> str:  # type: ignore[no-untyped-def]
    text = renter.say(question)[0]
    return text.split("http://127.0.0.1:8000")[1]


def test_paying_on_the_sandbox_page_confirms_in_chat(client, services, demo):
    from tests.transcript import Chat

    runtime = client.application.extensions["crms"]
    renter = Chat(runtime, "whatsapp", "+41791234503", "alpenrent")
    path = pay_link(renter)
    page = client.get(path).get_data(as_text=True)
    assert "CHF 615.00" in page and "SANDBOX PAYMENT" in page
    assert client.post(path, data={"action": "card"}).status_code == 302
    assert [m.body for m in renter.new_replies()] == [
        "Thank you! We received your payment of CHF 615.00 for booking CR-48215."]
    assert client.post(path, data={"action": "card"}).status_code == 302  # twice: once
    assert renter.new_replies() == []
    assert renter.say("did you receive my payment?")[0] == (
        "Booking CR-48215: CHF 0.00 open, CHF 615.00 paid.\n"
        "CHF 615.00 paid by card (Monday, 8 March 2027, 10:00).")
    assert renter.say("pay online")[0] == "There is nothing left to pay for booking CR-48215. Thank you!"
    with runtime.db.session() as s:
        assert s.scalar(select(AuditLog).where(AuditLog.action == "payment.paid")) is not None


def test_a_failed_payment_is_told_and_a_new_link_can_follow(client, demo):
    from tests.transcript import Chat

    runtime = client.application.extensions["crms"]
    renter = Chat(runtime, "sms", "+41791234504", "alpenrent")
    path = pay_link(renter, "bonjour, je voudrais payer en ligne par carte")
    client.post(path, data={"action": "fail"})
    assert renter.new_replies()[0].body.startswith("Le paiement pour la réservation CR-48216 n'a pas abouti")
    assert "sbx_cs_2_" in renter.say("je veux payer en ligne")[0]


def test_sandbox_payment_page_rejects_bad_requests(client):
    from tests.transcript import Chat

    assert client.get("/sandbox/pay/nope").status_code == 404
    assert client.post("/sandbox/pay/nope", data={"action": "card"}).status_code == 404
    renter = Chat(client.application.extensions["crms"], "whatsapp", "+41791234503", "alpenrent")
    path = pay_link(renter)
    refused = client.post(path, data={"action": "steal"})
    assert refused.status_code == 400 and "card, twint, fail, abandon" in refused.get_data(True)
    assert client.post(path, data={"action": "hold"}).status_code == 400  # rental: no hold


def test_a_qr_bill_by_sms_is_a_short_signed_link(chat):
    renter = chat("sms", ANNA)
    reply = renter.say("kann ich eine QR-Rechnung haben?")[0]
    assert reply.startswith("Hier ist Ihre QR-Rechnung über CHF 1'234.50")  # GSM-7 on SMS
    [row] = [r for r in renter.outbox() if "QR-Rechnung" in r.payload["text"]]
    assert "http://127.0.0.1:8000/d/" in row.payload["text"]
    assert not row.payload.get("media_urls")  # SMS carries the link, not media


def test_sandbox_deposit_hold_then_staff_capture_part_of_it(client):
    from tests.transcript import Chat

    runtime = client.application.extensions["crms"]
    renter = Chat(runtime, "whatsapp", "+41791234503", "alpenrent")  # James, deposit CHF 1'500
    path = pay_link(renter, "I'd like to pay the deposit")
    page = client.get(path).get_data(as_text=True)
    assert "CHF 1500.00" in page and "TWINT cannot hold a deposit" in page
    assert client.post(path, data={"action": "twint"}).status_code == 400  # a hold is card only
    done = client.post(path, data={"action": "hold"})
    assert done.status_code == 302 and "/pay/" in done.location and "/done" in done.location
    assert "deposit for booking CR-48215 is held" in client.get(done.location).get_data(True)
    assert [m.body for m in renter.new_replies()] == [
        "Thank you! CHF 1’500.00 is held on your card as the deposit for booking CR-48215. We "
        "release it after a return without damage."]
    staff_desk = client.post(f"/sandbox/staff/{renter.conversation_id}",
                             data={"text": "/deposit capture 180.50", "author": "Petra"})
    assert staff_desk.status_code == 302
    runtime.work.pool.shutdown(wait=True)  # the sandbox desk queues the capture on a worker
    assert [m.body for m in renter.new_replies()] == [
        "From the deposit for booking CR-48215 we charged CHF 180.50; the rest is released. If "
        "you have questions, just reply here."]
    with runtime.db.session() as s:
        deposit = s.scalar(select(Payment).where(Payment.kind == "deposit"))
        assert deposit.status == "captured" and deposit.captured_chf == Decimal("180.50")
