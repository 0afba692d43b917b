"""The built-in parser: intent from keyword rules, entities, language."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from nlu import entities as ent
from nlu.language import detect
from nlu.rules import RULES

FALLBACK_THRESHOLD = 0.5
_COMPILED = {intent: (w, [re.compile(p) for p in pats]) for intent, (w, pats) in RULES.items()}
_SHORT_FORMS = {"start": "opt_in", "unstop": "opt_in", "yes start": "opt_in"}


@dataclass(frozen=True)
class NluResult:
    """What the renter said: intent, confidence, language and entities."""

    intent: str
    confidence: float
    language: str | None
    entities: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The `crms-bot nlu parse` JSON shape."""
        return {"intent": self.intent, "confidence": round(self.confidence, 3),
                "language": self.language, "entities": self.entities}


class RuleBasedParser:
    """Keyword-rule intent classifier with entity extraction and language detection."""

    def parse(self, text: str, today: date | None = None) -> NluResult:
        """Understand one message."""
        today = today or date.today()
        lowered = text.lower().strip()
        language, _ = detect(lowered)
        entities = ent.extract(text, today)
        if lowered in _SHORT_FORMS:
            return NluResult(_SHORT_FORMS[lowered], 0.99, language, entities)
        intent, confidence = self._intent(lowered)
        if intent is None and entities.get("booking_ref"):
            intent, confidence = "booking_status", 0.7
        if intent is None or confidence < FALLBACK_THRESHOLD:
            return NluResult("nlu_fallback", confidence, language, entities)
        return NluResult(intent, confidence, language, entities)

    def _intent(self, lowered: str) -> tuple[str | None, float]:
        scored: list[tuple[float, str]] = []
        for intent, (weight, patterns) in _COMPILED.items():
            hits = sum(1 for p in patterns if p.search(lowered))
            if hits:
                scored.append((weight + 0.3 * (hits - 1), intent))
        if not scored:
            return None, 0.0
        scored.sort(reverse=True)
        best, name = scored[0]
        runner_up = scored[1][0] if len(scored) > 1 else 0.0
        margin = (best - runner_up) / best
        return name, round(min(0.99, 0.55 + 0.4 * margin + 0.05 * best), 3)
