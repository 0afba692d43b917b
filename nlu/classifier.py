"""The built-in intent and language classifiers.

TF-IDF over character and word n-grams with logistic regression, trained from nlu/data in a
few seconds and cached on disk (var/), so `serve` loads it in well under a second.
"""

from __future__ import annotations

import logging
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from nlu.entities import BOOKING_REF, NUMERIC_DATE, PLATE
from nlu.training import DATA_DIR, Example, data_fingerprint, load_examples

log = logging.getLogger(__name__)
MODEL_VERSION = 1
EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")


def normalise(text: str) -> str:
    """Lower case, with references, dates, plates and numbers replaced by placeholders."""
    text = BOOKING_REF.sub(" bookingref ", text)
    text = PLATE.sub(" plate ", text)
    text = NUMERIC_DATE.sub(" datum ", text)
    text = re.sub(r"\d+", " 0 ", text)
    text = EMOJI.sub(lambda m: f" emoji{ord(m.group(0)):x} ", text)
    return re.sub(r"\s+", " ", text.lower()).strip()


def _pipeline(c: float) -> Pipeline:
    features = FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                                  min_df=1)),
        ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                  token_pattern=r"(?u)\b\w+\b")),
    ])
    return Pipeline([("features", features),
                     ("model", LogisticRegression(C=c, max_iter=5000, class_weight="balanced"))])


@dataclass
class Models:
    """The trained intent and language models and the data they came from."""

    intents: Pipeline
    languages: Pipeline
    fingerprint: str
    version: int = MODEL_VERSION

    def intent(self, text: str) -> tuple[str, float, list[tuple[str, float]]]:
        """Best intent, its probability, and the top three."""
        probs = self.intents.predict_proba([normalise(text)])[0]
        ranked = sorted(zip(self.intents.classes_, probs, strict=True), key=lambda p: -p[1])[:3]
        return str(ranked[0][0]), float(ranked[0][1]), [(str(k), float(v)) for k, v in ranked]

    def language(self, text: str) -> tuple[str, float]:
        """Most likely language and its probability."""
        probs = self.languages.predict_proba([normalise(text)])[0]
        best = int(probs.argmax())
        return str(self.languages.classes_[best]), float(probs[best])


def train(examples: list[Example], fingerprint: str = "") -> Models:
    """Fit both models on the examples."""
    texts = [normalise(e.text) for e in examples]
    intents = _pipeline(c=20.0).fit(texts, [e.intent for e in examples])
    languages = _pipeline(c=10.0).fit(texts, [e.language for e in examples])
    return Models(intents, languages, fingerprint)


def load_or_train(cache_dir: Path | None, data_dir: Path = DATA_DIR) -> Models:
    """The cached models when they match the data, else freshly trained (and cached)."""
    fingerprint = data_fingerprint(data_dir)
    path = cache_dir / f"nlu-{MODEL_VERSION}-{fingerprint}.pkl" if cache_dir else None
    if path is not None and path.exists():
        try:
            with path.open("rb") as fh:
                models = pickle.load(fh)  # noqa: S301 - our own file in our var/ directory
            if isinstance(models, Models) and models.fingerprint == fingerprint:
                return models
        except Exception:  # noqa: BLE001 - a broken cache is rebuilt
            log.warning("NLU model cache %s unreadable; retraining", path)
    models = train(load_examples(data_dir), fingerprint)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            pickle.dump(models, fh)
        tmp.replace(path)
    return models
