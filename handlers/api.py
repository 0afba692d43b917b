"""Booking sync API for the rental system: per-tenant API key, validated JSON."""

from __future__ import annotations

import hashlib
import hmac

from flask import Blueprint, abort, current_app, g, jsonify, request
from sqlalchemy import select

from bot.bookings import BookingInvalid, booking_json, cancel_booking, upsert_booking
from bot.models import Tenant

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def hash_api_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


@bp.before_request
def authenticate() -> None:
    """Find the tenant by its bearer key; 401 otherwise."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or len(header) < 20:
        abort(401, description="send the tenant's API key as 'Authorization: Bearer KEY'")
    digest = hash_api_key(header[7:].strip())
    runtime = current_app.extensions["crms"]
    with runtime.db.session() as s:
        tenant = s.scalar(select(Tenant).where(Tenant.api_key_hash == digest))
        if tenant is None or not hmac.compare_digest(tenant.api_key_hash or "", digest):
            abort(401, description="unknown API key")
        g.tenant_id = tenant.id


@bp.post("/bookings")
@bp.put("/bookings/<ref>")
def put_booking(ref: str | None = None):  # type: ignore[no-untyped-def]
    """Create or update a booking by reference: 201 created, 200 updated, 422 invalid."""
    data = request.get_json(silent=True)
    if data is None:
        abort(400, description="body must be JSON (Content-Type: application/json)")
    if ref is not None and isinstance(data, dict):
        data.setdefault("ref", ref)
        if str(data["ref"]).upper() != ref.upper():
            abort(400, description="ref in the body differs from the URL")
    runtime = current_app.extensions["crms"]
    try:
        with runtime.db.session() as s:
            tenant = s.get(Tenant, g.tenant_id)
            booking, created = upsert_booking(s, tenant, data, runtime.services.clock.now())
            body = booking_json(booking)
    except BookingInvalid as exc:
        return jsonify(error="invalid booking", fields=exc.fields), 422
    return jsonify(body), 201 if created else 200


@bp.get("/bookings/<ref>")
def get_booking(ref: str):  # type: ignore[no-untyped-def]
    """The stored booking of this tenant."""
    from bot.repository import booking_by_ref

    runtime = current_app.extensions["crms"]
    with runtime.db.session() as s:
        booking = booking_by_ref(s, g.tenant_id, ref)
        if booking is None:
            abort(404, description=f"no booking {ref} for this tenant")
        return jsonify(booking_json(booking))


@bp.delete("/bookings/<ref>")
def delete_booking(ref: str):  # type: ignore[no-untyped-def]
    """Cancel a booking of this tenant."""
    runtime = current_app.extensions["crms"]
    with runtime.db.session() as s:
        tenant = s.get(Tenant, g.tenant_id)
        booking = cancel_booking(s, tenant, ref, runtime.services.clock.now())
        if booking is None:
            abort(404, description=f"no booking {ref} for this tenant")
        return jsonify(booking_json(booking))


@bp.post("/payments/camt")
def upload_camt():  # type: ignore[no-untyped-def]
    """A camt.054 file from the tenant's bank (the raw XML as the body), reconciled at once.

    Only this tenant's QR-bills are matched; the same file twice changes nothing.
    """
    from bot.billing import import_camt
    from bot.camt import MAX_BYTES, CamtError

    if (request.content_length or 0) > MAX_BYTES:
        abort(413, description="camt.054 files up to 20 MB")
    data = request.get_data(cache=False)
    if not data:
        abort(400, description="send the camt.054 XML as the request body")
    runtime = current_app.extensions["crms"]
    try:
        report = import_camt(runtime.db, data, runtime.services.clock.now(), g.tenant_id)
    except CamtError as exc:
        abort(422, description=str(exc))
    runtime.work.wake_outbox()
    return jsonify(report)
