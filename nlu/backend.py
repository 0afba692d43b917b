"""Pick the NLU backend: the built-in parser, or a Rasa server behind the same contract."""

from __future__ import annotations

import json
import urllib.request
from datetime import date

from bot.config import Config
from nlu import entities as ent
from nlu.language import detect
from nlu.parser import FALLBACK_THRESHOLD, BuiltinParser, NluResult


class RasaParser:
    """Asks a Rasa server (`/model/parse`) for the intent; entities and language stay ours."""

    def __init__(self, url: str, timeout: float = 3.0) -> None:
        self.url = url.rstrip("/") + "/model/parse"
        self.timeout = timeout

    def parse(self, text: str, today: date | None = None) -> NluResult:
        """Understand one message through Rasa."""
        today = today or date.today()
        request = urllib.request.Request(self.url, data=json.dumps({"text": text}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            body = json.load(response)
        intent = body.get("intent") or {}
        name, confidence = intent.get("name") or "nlu_fallback", float(intent.get("confidence") or 0)
        if confidence < FALLBACK_THRESHOLD:
            name = "nlu_fallback"
        return NluResult(name, confidence, detect(text.lower())[0], ent.extract(text, today))


def make_parser(config: Config) -> BuiltinParser | RasaParser:
    """The configured backend (CRMS_NLU_BACKEND)."""
    if config.nlu_backend == "rasa":
        return RasaParser(config.rasa_url)
    return BuiltinParser.load(config.nlu_cache_dir or config.var_dir)
