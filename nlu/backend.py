"""Pick the NLU backend: the built-in classifier, or a Rasa server behind the same contract."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from datetime import date

from bot.config import Config
from nlu import entities as ent
from nlu.parser import BuiltinParser, NluResult

log = logging.getLogger(__name__)
RETRY_AFTER = 30.0  # seconds before asking a Rasa server again that was down


class RasaParser:
    """Intent from a Rasa server's `/model/parse`; entities and language from our extractors.

    When Rasa does not answer within the timeout the built-in backend answers instead, and
    `status()` says so (/readyz shows it).
    """

    def __init__(self, url: str, fallback: BuiltinParser, timeout: float = 2.0,
                 token: str | None = None) -> None:
        self.url = url.rstrip("/") + "/model/parse"
        if token:
            self.url += f"?token={token}"
        self.fallback = fallback
        self.timeout = timeout
        self._down_since: float | None = None

    def parse(self, text: str, today: date | None = None) -> NluResult:
        """Understand one message through Rasa (or the built-in backend while Rasa is down)."""
        today = today or date.today()
        if self._down_since is not None and time.monotonic() - self._down_since < RETRY_AFTER:
            return self.fallback.parse(text, today)
        try:
            body = self._ask(text)
        except (OSError, ValueError) as exc:
            if self._down_since is None:
                log.warning("Rasa at %s unavailable (%s): built-in NLU answers meanwhile",
                            self.url.split("?")[0], type(exc).__name__)
            self._down_since = time.monotonic()
            return self.fallback.parse(text, today)
        self._down_since = None
        intent = body.get("intent") or {}
        name = str(intent.get("name") or "nlu_fallback")
        confidence = float(intent.get("confidence") or 0.0)
        return NluResult(name, round(confidence, 3), self.fallback.language(text),
                         ent.extract(text, today))

    def _ask(self, text: str) -> dict:  # type: ignore[type-arg]
        request = urllib.request.Request(self.url, data=json.dumps({"text": text}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            body = json.load(response)
        if not isinstance(body, dict):
            raise ValueError("unexpected answer from Rasa")
        return body

    def status(self) -> str:
        """`ok`, or `down (built-in answers)` while the fallback is in use."""
        return "ok" if self._down_since is None else "down (built-in answers)"


class LazyParser:
    """Loads the configured backend on first use.

    Commands that never parse a message (`company api-key`, `db upgrade`) do not pay for
    scikit-learn and the model; `serve` and the workers warm it up in the background.
    """

    def warm_up(self) -> None:
        """Load the backend on a background thread."""
        threading.Thread(target=self.backend, name="crms-nlu-load", daemon=True).start()

    def __init__(self, config: Config) -> None:
        self.config = config
        self._parser: BuiltinParser | RasaParser | None = None
        self._lock = threading.Lock()

    def backend(self) -> BuiltinParser | RasaParser:
        """The loaded backend."""
        with self._lock:
            if self._parser is None:
                self._parser = load_backend(self.config)
            return self._parser

    def parse(self, text: str, today: date | None = None) -> NluResult:
        """Understand one message."""
        return self.backend().parse(text, today)

    def status(self) -> str:
        """The backend's state for /readyz."""
        status = getattr(self.backend(), "status", None)
        return status() if status else "ok"


def load_backend(config: Config) -> BuiltinParser | RasaParser:
    """The configured backend (CRMS_NLU_BACKEND), loaded now."""
    builtin = BuiltinParser.load(config.nlu_cache_dir or config.var_dir)
    if config.nlu_backend == "rasa":
        return RasaParser(config.rasa_url, builtin)
    return builtin


def make_parser(config: Config) -> LazyParser:
    """The configured backend, loaded on first use."""
    return LazyParser(config)
