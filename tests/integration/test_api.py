"""The booking sync API, as the rental system uses it."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import create_app
from bot.models import Booking, Reminder, Tenant
from handlers.api import hash_api_key

BODY = {
    "ref": "CR-60001",
    "renter": {"name": "Lea Keller", "phone": "079 123 45 99", "birth_date": "1994-06-02",
               "language": "de", "email": "lea@example.ch",
               "address": {"street": "Bahnhofstrasse", "house_number": "1", "postcode": "8001",
                           "town": "Zürich", "country": "CH"}},
    "vehicle": {"plate": "ZH 99001", "category": "B"},
    "pickup_at": "2027-03-20T08:00:00+01:00", "return_at": "2027-03-22T18:00:00+01:00",
    "pickup_location": "Zürich HB", "return_location": "Zürich HB",
    "amount_due_chf": "350.00", "deposit_chf": "800",
}


@pytest.fixture
def client(config, services, demo):  # type: ignore[no-untyped-def]
    app = create_app(config, services)
    runtime = app.extensions["crms"]
    with runtime.db.session() as s:
        for slug in ("alpenrent", "lemanauto"):
            s.scalar(select(Tenant).where(Tenant.slug == slug)).api_key_hash = \
                hash_api_key(f"key-of-{slug}-0123456789")
    return app.test_client()


def auth(slug: str = "alpenrent") -> dict[str, str]:
    return {"Authorization": f"Bearer key-of-{slug}-0123456789"}


def test_no_or_wrong_key_is_401(client):
    assert client.post("/api/v1/bookings", json=BODY).status_code == 401
    response = client.post("/api/v1/bookings", json=BODY,
                           headers={"Authorization": "Bearer wrong-key-0123456789"})
    assert response.status_code == 401 and response.json["reason"] == "unknown API key"


def reminders_of(client, ref):  # type: ignore[no-untyped-def]
    runtime = client.application.extensions["crms"]
    with runtime.db.session() as s:
        rows = s.execute(select(Reminder).join(Booking, Booking.id == Reminder.booking_id)
                         .where(Booking.ref == ref, Booking.tenant_id == 1)).scalars()
        return {r.kind: r for r in rows}


def test_create_then_update_replans_reminders(client):
    created = client.post("/api/v1/bookings", json=BODY, headers=auth())
    assert created.status_code == 201
    assert created.json["renter"]["phone"] == "+41791234599"
    before = reminders_of(client, "CR-60001")
    assert set(before) == {"pickup_24h", "pickup_2h", "return_24h", "return_2h",
                           "licence_missing", "payment_open"}
    moved = dict(BODY, pickup_at="2027-03-21T08:00:00+01:00")
    updated = client.put("/api/v1/bookings/CR-60001", json=moved, headers=auth())
    assert updated.status_code == 200
    after = reminders_of(client, "CR-60001")
    assert after["pickup_24h"].due_at - before["pickup_24h"].due_at == timedelta(days=1)
    assert after["return_24h"].due_at == before["return_24h"].due_at


def test_invalid_bodies_get_422_with_reasons(client):
    bad = dict(BODY, ref="48213", pickup_at="tomorrow", amount_due_chf="12.345",
               renter=dict(BODY["renter"], phone="hello", language="xx"))
    response = client.post("/api/v1/bookings", json=bad, headers=auth())
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"ref", "pickup_at", "amount_due_chf",
                                            "renter.phone", "renter.language"}
    naive = dict(BODY, return_at="2027-03-22T18:00:00")
    assert "offset" in client.post("/api/v1/bookings", json=naive,
                                   headers=auth()).json["fields"]["return_at"]
    assert client.post("/api/v1/bookings", data="not json", headers=auth()).status_code == 400
    assert client.post("/api/v1/bookings", json=[1, 2], headers=auth()).status_code == 422


def test_a_tenant_never_sees_another_tenants_booking(client):
    assert client.get("/api/v1/bookings/CR-48213", headers=auth()).status_code == 200
    assert client.get("/api/v1/bookings/CR-48213", headers=auth("lemanauto")).status_code == 404
    assert client.delete("/api/v1/bookings/CR-48213",
                         headers=auth("lemanauto")).status_code == 404
    # the same reference created by the other tenant is a separate booking
    other = dict(BODY, ref="CR-48213")
    assert client.post("/api/v1/bookings", json=other, headers=auth("lemanauto")).status_code == 201
    assert client.get("/api/v1/bookings/CR-48213",
                      headers=auth()).json["renter"]["name"] == "Anna Müller"


def test_cancel_drops_planned_reminders(client):
    client.post("/api/v1/bookings", json=BODY, headers=auth())
    response = client.delete("/api/v1/bookings/CR-60001", headers=auth())
    assert response.status_code == 200 and response.json["status"] == "cancelled"
    assert reminders_of(client, "CR-60001") == {}
    assert len(reminders_of(client, "CR-48213")) == 6  # another booking keeps its own
