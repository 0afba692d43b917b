"""The sandbox page as an evaluator uses it: photos, buttons, documents, the clock, the bank."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot import create_app
from bot.models import Conversation, LicenceCheck
from tests.fakes import run_jobs_inline

ANNA = "+41791234501"


@pytest.fixture
def client(config, services, demo):  # type: ignore[no-untyped-def]
    from bot.channels.sandbox import SandboxAdapter

    for name in ("whatsapp", "sms", "telegram"):  # sandbox mode, as `make run` has it
        services.channels[name] = SandboxAdapter(name)
    app = create_app(config, services)
    runtime = app.extensions["crms"]
    runtime.work.enqueue_conversation = runtime.answer  # handle at once, then deliver
    run_jobs_inline(runtime)
    return app.test_client()


def send(client, text: str, channel: str = "whatsapp", sender: str = ANNA) -> str:  # type: ignore[no-untyped-def]
    """Write as a renter; the page of the conversation afterwards."""
    answer = client.post("/sandbox/send", data={"tenant": "alpenrent", "channel": channel,
                                                "sender": sender, "text": text})
    assert answer.status_code == 302
    return client.get(answer.location).get_data(as_text=True)


def test_a_sample_licence_photo_goes_through_the_licence_flow(client):
    send(client, "Hallo")
    answer = client.post("/sandbox/upload", data={"tenant": "alpenrent", "channel": "whatsapp",
                                                  "sender": ANNA, "sample": "licence"})
    page = client.get(answer.location).get_data(as_text=True)
    assert "Ich lese Ihren Führerausweis" in page
    assert "1. Name: MÜLLER" in page and "3. Geburtsdatum: 12.03.1990" in page
    assert '<button type="submit">Ja</button>' in page  # WhatsApp buttons are buttons
    page = send(client, "/yes")
    assert "passt zur Buchung CR-48213" in page
    runtime = client.application.extensions["crms"]
    with runtime.db.session() as s:
        assert s.scalar(select(LicenceCheck.status)) == "accepted"


def test_a_file_from_disk_that_is_no_photo_gets_a_polite_answer(client):
    answer = client.post("/sandbox/upload", data={
        "tenant": "alpenrent", "channel": "sms", "sender": ANNA,
        "file": (__import__("io").BytesIO(b"BEGIN:VCARD\nEND:VCARD"), "anna.vcf", "text/vcard")},
        content_type="multipart/form-data")
    assert answer.status_code == 302
    assert "Ich kann hier nur Fotos und PDFs lesen" in client.get(answer.location).get_data(as_text=True)
    assert client.post("/sandbox/upload", data={"tenant": "alpenrent", "channel": "sms",
                                                "sender": ANNA}).status_code == 400


def test_a_qr_bill_is_a_document_card_and_the_bank_button_pays_it(client):
    page = send(client, "ich möchte per Rechnung zahlen")
    [link] = re.findall(r'class="doc" href="([^"]+)"', page)
    pdf = client.get(link.replace("http://127.0.0.1:8000", ""))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    paid = client.post("/sandbox/bank", data={"conv": "1"})
    page = client.get(paid.location).get_data(as_text=True)
    assert "1 QR-bill(s) paid" in page
    assert "Danke! Wir haben Ihre Zahlung von CHF 1’234.50" in page


def test_by_sms_the_page_shows_the_menu_and_the_segments(client):
    page = send(client, "kann ich die Kaution mit TWINT zahlen?", channel="sms")
    assert "1) Kaution mit Karte" in page  # a numbered menu, not buttons
    assert re.search(r"SMS \d+ segments?, GSM-7", page)


def test_moving_the_clock_fires_the_reminders_that_fall_due(client):
    send(client, "Hallo")
    moved = client.post("/sandbox/clock", data={"hours": "24", "conv": "1"})
    page = client.get(moved.location).get_data(as_text=True)
    assert "Erinnerung: Sie holen VW Golf am Mittwoch, 10. März 2027, 09:00 ab" in page
    assert "2027-03-09 09:00 UTC" in page
    later = client.post("/sandbox/clock", data={"hours": "48", "conv": "1"})  # past two more
    page = client.get(later.location).get_data(as_text=True)
    assert "los: Abholung Mittwoch, 10. März 2027, 09:00" in page  # the 2 h one, on its way
    assert "Erinnerung: Bitte geben Sie VW Golf am Sonntag, 14. März 2027" not in page
    assert client.post("/sandbox/clock", data={"hours": "-5"}).status_code == 400
    runtime = client.application.extensions["crms"]
    with runtime.db.session() as s:
        assert s.scalar(select(Conversation.address)) == ANNA


def test_the_page_offers_the_demo_renters_to_pick(client):
    page = client.get("/sandbox").get_data(as_text=True)
    assert '<option value="+41791234501">Anna Müller · alpenrent · de</option>' in page
    assert '<option value="+41791234512">Luca Bernasconi · lemanauto · it</option>' in page
