"""Every error as a clear 4xx with a reason (JSON for the API, text elsewhere); never a bare 500."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)
# shared with the Twilio webhooks, which answer before Flask does (handlers/twilio.py)
DATABASE_UNAVAILABLE = "the database is unavailable; retry shortly"
RETRY_AFTER_SECONDS = "5"
UNEXPECTED = "unexpected error; it has been logged"


def register_error_handlers(app: Flask) -> None:
    """Install the error handlers."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        log.info("%s %s -> %s %s", request.method, request.path, exc.code, exc.description)
        return jsonify(error=exc.name, reason=exc.description), exc.code

    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError):  # type: ignore[no-untyped-def]
        log.error("database unavailable on %s %s: %s", request.method, request.path,
                  type(exc.orig).__name__)
        response = jsonify(error="Service Unavailable", reason=DATABASE_UNAVAILABLE)
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return response, 503

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify(error="Internal Server Error", reason=UNEXPECTED), 500
