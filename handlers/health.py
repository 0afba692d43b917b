"""Liveness, readiness (database, Redis, provider circuits) and Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from bot.breaker import OPEN
from bot.channels.base import PROVIDER_OF
from bot.metrics import REGISTRY

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """The process is alive."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():  # type: ignore[no-untyped-def]
    """Dependencies are reachable; 503 with the failing ones otherwise."""
    runtime = current_app.extensions["crms"]
    checks: dict[str, str] = {}
    try:
        with runtime.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["database"] = f"error: {type(exc).__name__}"
    if runtime.redis is not None:
        try:
            runtime.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["redis"] = f"error: {type(exc).__name__}"
    nlu_status = getattr(runtime.services.nlu, "status", None)
    if nlu_status is not None:
        checks["nlu"] = nlu_status()
    breakers = runtime.services.breakers
    providers = {p: breakers.get(p).state for p in sorted(set(PROVIDER_OF.values()))}
    ready = all(v == "ok" for k, v in checks.items() if k != "nlu")  # NLU degrades, not fails
    body = {"status": "ready" if ready else "not ready", "checks": checks,
            "providers": providers,
            "degraded": sorted(p for p, s in providers.items() if s == OPEN),
            "sandbox": {"twilio": runtime.config.twilio_sandbox,
                        "stripe": runtime.config.stripe_sandbox}}
    return jsonify(body), 200 if ready else 503


@bp.get("/metrics")
def metrics():  # type: ignore[no-untyped-def]
    """Prometheus exposition."""
    current_app.extensions["crms"].relay.refresh_gauges()
    return generate_latest(REGISTRY), 200, {"Content-Type": CONTENT_TYPE_LATEST}
