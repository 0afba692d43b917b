"""Signed document links (`/d/<token>`): QR-bill PDFs for WhatsApp media and SMS links."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app

from bot.documents import read_token
from bot.models import Document

bp = Blueprint("documents", __name__)


@bp.get("/d/<token>")
def document(token: str):  # type: ignore[no-untyped-def]
    """Serve the document a valid, unexpired token names."""
    runtime = current_app.extensions["crms"]
    doc_id, reason = read_token(token, runtime.services.clock.now())
    if doc_id is None:
        abort(410 if reason == "expired" else 404,
              description="this link has expired" if reason == "expired" else "no such document")
    with runtime.db.session() as s:
        found = s.get(Document, doc_id)
        if found is None:
            abort(404, description="no such document")
        return Response(found.data, mimetype=found.content_type, headers={
            "Content-Disposition": f'inline; filename="{found.filename}"',
            "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})
