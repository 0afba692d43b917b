"""The built-in parser: intent from keyword rules, entities, language."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlu import entities as ent
from nlu.language import detect
from nlu.rules import RULES
from nlu.text import normalise

if TYPE_CHECKING:
    from nlu.classifier import Models

FALLBACK_THRESHOLD = 0.5  # of the keyword rules
#: Below this (calibrated) probability the answer becomes nlu_fallback: asking again is better
#: than a wrong flow. Messages with no word the training data knows (gibberish, another
#: script, emoji only) never reach the model. Chosen on the held-out set
#: (nlu/tests/held_out.jsonl): every correct answer scores 0.448 or more, half of the wrong
#: ones and a pasted URL (0.20) score less. `crms-bot nlu evaluate` shows the effect.
CLASSIFIER_THRESHOLD = 0.40
#: "Grüezi, wo isch mini Buechig?" is the request, but "salut, ici Sophie" is a greeting: the
#: rest after a greeting wins only when the model is this sure of it.
GREETING_REQUEST = 0.6
_COMPILED = {intent: (w, [re.compile(p) for p in pats]) for intent, (w, pats) in RULES.items()}
_SHORT_FORMS = {"start": "opt_in", "unstop": "opt_in", "yes start": "opt_in"}
_OPT_OUT_EXACT = [re.compile(RULES["opt_out"][1][0])]  # the single-word carrier keywords


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


def carrier_keyword(text: str) -> str | None:
    """opt_out or opt_in for the carrier keywords (STOP, STOPP, ARRÊT, START, …), exact words."""
    lowered = text.lower().strip()
    if lowered in _SHORT_FORMS:
        return _SHORT_FORMS[lowered]
    return "opt_out" if any(p.search(lowered) for p in _OPT_OUT_EXACT) else None


class RuleBasedParser:
    """Keyword-rule intent classifier with entity extraction and language detection."""

    def parse(self, text: str, today: date | None = None) -> NluResult:
        """Understand one message."""
        today = today or date.today()
        lowered = text.lower().strip()
        language, _ = detect(lowered)
        entities = ent.extract(text, today)
        keyword = carrier_keyword(text)
        if keyword:
            return NluResult(keyword, 0.99, language, entities)
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


_LOADED: dict[str, "BuiltinParser"] = {}
PLACEHOLDERS = frozenset({"bookingref", "plate", "datum"})
LATIN_LETTER = re.compile(r"[a-zA-ZÀ-ÖØ-öø-ÿ]")
GREETING_PREFIX = re.compile(
    r"^\s*(grüezi( mitenand)?|grüessech|hoi( zäme)?|sali|salü|hallo|guten (morgen|tag|abend)|"
    r"bonjour|bonsoir|salut|coucou|buongiorno|buonasera|ciao|salve|hi|hello|hey|"
    r"good (morning|afternoon|evening)|allegra|bun di)\b[\s,.!:;-]*", re.IGNORECASE)


class BuiltinParser:
    """The built-in backend.

    Trained classifiers for intent and language, keyword rules for the carrier words (STOP,
    START), and the entity extractors.
    """

    def __init__(self, models: "Models") -> None:
        self.models = models

    @classmethod
    def load(cls, cache_dir: "Path | None" = None) -> "BuiltinParser":
        """Trained from nlu/data, or loaded from the cache in `cache_dir` (var/); one per process."""
        key = str(cache_dir)
        if key not in _LOADED:
            from nlu.classifier import load_or_train

            _LOADED[key] = cls(load_or_train(cache_dir))
        return _LOADED[key]

    def parse(self, text: str, today: date | None = None) -> NluResult:
        """Understand one message; never raises on odd input."""
        today = today or date.today()
        text = "".join(ch for ch in text if ch.isprintable() or ch in "\n\t")[:2000]
        entities = ent.extract(text, today)
        keyword = carrier_keyword(text)
        if keyword:
            return NluResult(keyword, 0.99, self.language(text), entities)
        if not LATIN_LETTER.search(text) or not self.models.knows_a_word(text):
            # emoji only, digits, another script, or not one word the bot has seen: no guess
            return NluResult("nlu_fallback", 0.0, detect(text.lower())[0], entities)
        row = self.models.row(text)
        language = self.language(text, row)
        intent, confidence, _ = self.models.intent(text, row)
        if intent == "greet":  # "Grüezi, wo isch mini Buechig?": the request matters more
            rest = self.without_greeting(text)
            if rest != text:
                request, certainty, _ = self.models.intent(rest)
                if request not in ("greet", "goodbye", "thanks") and certainty >= GREETING_REQUEST:
                    intent, confidence = request, certainty
        if confidence < CLASSIFIER_THRESHOLD:
            # not understood: the language model's guess is no better than the intent's
            intent, language = "nlu_fallback", detect(text.lower())[0]
        return NluResult(intent, round(confidence, 3), language, entities)

    @staticmethod
    def without_greeting(text: str) -> str:
        """The request after an opening greeting ("Grüezi, wo isch mini Buechig?")."""
        rest = GREETING_PREFIX.sub("", text, count=1)
        return rest if rest != text and len(re.findall(r"\w+", rest)) >= 2 else text

    def language(self, text: str, row: Any = None) -> str | None:
        """de, fr, it, en or rm; word lists decide short messages they know, else the model."""
        words = [w for w in re.findall(r"\w+", normalise(text)) if w not in PLACEHOLDERS]
        if not any(w.isalpha() for w in words):  # only a reference, a date, a number
            return None
        lexical, _ = detect(text.lower())
        if lexical is not None and (len(words) <= 3 or lexical == "rm"):
            return lexical
        language, probability = self.models.language(text, row)
        return language if probability >= 0.4 else lexical
