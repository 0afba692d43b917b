"""Documents in chat: media on WhatsApp, a short signed link on SMS, links that expire."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import create_app
from bot.documents import link, store, token_for
from bot.models import Customer, OutboxItem, Tenant
from bot.notify import send_to_renter

PDF = b"%PDF-1.7\n% a QR-bill\n"


@pytest.fixture
def app(config, services, demo):  # type: ignore[no-untyped-def]
    config.public_url = "https://bot.alpenrent.example"
    return create_app(config, services)


def send_document(app, chat, channel, phone):  # type: ignore[no-untyped-def]
    chat(channel, phone).say("Grüezi")
    runtime = app.extensions["crms"]
    with runtime.db.session() as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == "alpenrent"))
        customer = s.scalar(select(Customer).where(Customer.id == 1))
        document = store(s, tenant.id, "qr-bill-CR-48213.pdf", "application/pdf", PDF,
                         runtime.services.clock.now(), booking_id=1)
        url = link(runtime.config.public_url, document)
        send_to_renter(s, tenant, customer, "payment.status",
                       {"ref": "CR-48213", "amount": "1", "paid": "0", "details": ""},
                       runtime.services.clock.now(), document_url=url)
    with runtime.db.session() as s:
        return url, s.scalars(select(OutboxItem).order_by(OutboxItem.id.desc())).first()


def test_on_whatsapp_the_document_is_media(app, chat):
    url, row = send_document(app, chat, "whatsapp", "+41791234501")
    assert row.payload["media_urls"] == [url]
    assert url.startswith("https://bot.alpenrent.example/d/") and len(url) < 80


def test_on_sms_the_document_is_a_short_link_in_the_text(app, chat):
    url, row = send_document(app, chat, "sms", "+41791234501")
    assert row.payload["text"].endswith("\n" + url) and "media_urls" not in row.payload


def test_the_link_serves_the_pdf_until_it_expires(app, chat, clock):
    url, _ = send_document(app, chat, "sms", "+41791234501")
    client = app.test_client()
    path = url.removeprefix("https://bot.alpenrent.example")
    response = client.get(path)
    assert response.status_code == 200 and response.data == PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert client.get(path[:-2] + ("AA" if not path.endswith("AA") else "BB")).status_code == 404
    assert client.get("/d/not-a-token").status_code == 404
    clock.advance(days=8)
    assert client.get(path).status_code == 410


def test_a_token_cannot_be_moved_to_another_document(app, runtime, clock):
    with runtime.db.session() as s:
        first = store(s, 1, "a.pdf", "application/pdf", b"%PDF a", clock.now())
        second = store(s, 1, "b.pdf", "application/pdf", b"%PDF b", clock.now(),
                       ttl=timedelta(days=1))
        token = token_for(first)
        forged_id = second.id
    import base64
    import struct

    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[:4] = struct.pack(">I", forged_id)
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    assert app.test_client().get(f"/d/{forged}").status_code == 404
