"""Settings from the environment, in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass
class Config:
    """Service settings; `Config.from_env()` reads them, tests build their own."""

    database_url: str = ""
    redis_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    data_key: str | None = None
    var_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "var")
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_base: str | None = None
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    telegram_api_base: str | None = None
    nlu_backend: str = "builtin"
    rasa_url: str = "http://127.0.0.1:5005"
    nlu_cache_dir: Path | None = None  # where the trained NLU model is cached (var/ by default)
    sentry_dsn: str | None = None
    sandbox_enabled: bool | None = None
    sandbox_password: str | None = None  # required for /sandbox when real providers are set
    embedded_workers: bool = True
    testing: bool = False

    @classmethod
    def from_env(cls) -> "Config":
        """Read settings from the environment (and `.env` when present)."""
        load_dotenv(PROJECT_ROOT / ".env", override=False)
        var_dir = Path(_env("CRMS_VAR_DIR") or PROJECT_ROOT / "var")
        sandbox = _env("CRMS_SANDBOX")
        return cls(
            database_url=_env("CRMS_DATABASE_URL") or f"sqlite:///{var_dir / 'crms.sqlite3'}",
            redis_url=_env("CRMS_REDIS_URL"),
            public_url=(_env("CRMS_PUBLIC_URL", "http://127.0.0.1:8000") or "").rstrip("/"),
            data_key=_env("CRMS_DATA_KEY"),
            var_dir=var_dir,
            twilio_account_sid=_env("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=_env("TWILIO_AUTH_TOKEN"),
            twilio_api_base=_env("CRMS_TWILIO_API_BASE"),
            stripe_secret_key=_env("STRIPE_SECRET_KEY"),
            stripe_webhook_secret=_env("STRIPE_WEBHOOK_SECRET"),
            stripe_api_base=_env("CRMS_STRIPE_API_BASE"),
            telegram_api_base=_env("CRMS_TELEGRAM_API_BASE"),
            nlu_backend=_env("CRMS_NLU_BACKEND", "builtin") or "builtin",
            rasa_url=_env("CRMS_RASA_URL", "http://127.0.0.1:5005") or "",
            nlu_cache_dir=Path(_env("CRMS_NLU_CACHE_DIR") or var_dir),
            sentry_dsn=_env("SENTRY_DSN"),
            sandbox_enabled=None if sandbox is None else sandbox.lower() in ("1", "true", "yes"),
            sandbox_password=_env("CRMS_SANDBOX_PASSWORD"),
        )

    @property
    def twilio_sandbox(self) -> bool:
        """True when Twilio runs in sandbox mode (no credentials)."""
        return not (self.twilio_account_sid and self.twilio_auth_token)

    @property
    def stripe_sandbox(self) -> bool:
        """True when Stripe runs in sandbox mode (no secret key)."""
        return not self.stripe_secret_key

    def stripe_webhook_key(self) -> str | None:
        """The secret Stripe events are signed with.

        In sandbox mode one derived from the data key (the sandbox payment page signs its
        events with it); None when Stripe is real but STRIPE_WEBHOOK_SECRET is unset.
        """
        if self.stripe_webhook_secret:
            return self.stripe_webhook_secret
        if not self.stripe_sandbox:
            return None
        from bot import crypto

        return "whsec_sandbox_" + crypto.mac(b"stripe-sandbox-webhook").hex()[:32]

    @property
    def sandbox_needs_login(self) -> bool:
        """With real providers the sandbox page (if enabled) is never open without a login."""
        return not (self.twilio_sandbox and self.stripe_sandbox)

    @property
    def sandbox_page_enabled(self) -> bool:
        """The /sandbox page: on in sandbox mode, off with real providers unless enabled."""
        if self.sandbox_enabled is not None:
            return self.sandbox_enabled
        return self.twilio_sandbox and self.stripe_sandbox
