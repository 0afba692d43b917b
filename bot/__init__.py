"""CRMS Chat: the conversational front door of a Swiss car-rental company."""

from __future__ import annotations

import logging

from flask import Flask

from bot.config import Config
from bot.logging_setup import configure_logging
from bot.runtime import Runtime, build_runtime
from bot.services.ports import Services

log = logging.getLogger(__name__)


def create_app(config: Config | None = None, services: Services | None = None) -> Flask:
    """The Flask app factory: config and services are the caller's, or from the environment."""
    configure_logging()
    runtime = build_runtime(config, services)
    app = Flask(__name__, template_folder="../templates", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 25 * 1024 * 1024
    app.extensions["crms"] = runtime
    _init_sentry(runtime.config)
    from handlers.api import bp as api_bp
    from handlers.documents import bp as documents_bp
    from handlers.errors import register_error_handlers
    from handlers.health import bp as health_bp
    from handlers.sandbox import bp as sandbox_bp
    from handlers.stripe import bp as stripe_bp
    from handlers.stripe import pages as pay_pages_bp
    from handlers.telegram import bp as telegram_bp
    from handlers.twilio import TwilioWebhooks

    for blueprint in (health_bp, api_bp, sandbox_bp, telegram_bp, documents_bp, stripe_bp,
                      pay_pages_bp):
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    app.wsgi_app = TwilioWebhooks(app.wsgi_app, runtime)  # type: ignore[method-assign]
    return app


def runtime_of(app: Flask) -> Runtime:
    """The runtime wired into an app."""
    return app.extensions["crms"]  # type: ignore[no-any-return]


def _init_sentry(config: Config) -> None:
    if not config.sentry_dsn:
        return
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(dsn=config.sentry_dsn, integrations=[FlaskIntegration()],
                    send_default_pii=False)
    log.info("errors are reported to Sentry")
