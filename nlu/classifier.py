"""The built-in intent and language classifiers.

TF-IDF over character and word n-grams with logistic regression, trained from nlu/data in a
few seconds and cached on disk (var/), so `serve` loads it in well under a second.
"""

from __future__ import annotations

import logging
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from scipy import sparse
from scipy.optimize import minimize_scalar
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion

from nlu.text import normalise
from nlu.training import DATA_DIR, Example, data_fingerprint, load_examples

log = logging.getLogger(__name__)
MODEL_VERSION = 4


def _features() -> FeatureUnion:
    # n-gram ranges and C chosen by 5-fold cross-validation on the training data
    # (char_wb 1-4 + words, C=20: 75.6% against 74.6% for 2-5 + word bigrams), never on the
    # held-out set.
    return FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True,
                                  min_df=1, dtype=np.float32)),
        ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 1), sublinear_tf=True,
                                  token_pattern=r"(?u)\b\w+\b", dtype=np.float32)),
    ])


@dataclass(frozen=True)
class SparseRow:
    """One message's non-zero features: what the heads need, without building a matrix."""

    indices: np.ndarray
    values: np.ndarray
    width: int


@dataclass
class Head:
    """A multinomial logistic regression, applied with one sparse product and a softmax."""

    classes: list[str]
    coef: np.ndarray
    intercept: np.ndarray
    temperature: float = 1.0  # softmax temperature that calibrates the probabilities

    @classmethod
    def fit(cls, matrix: Any, labels: list[str], c: float) -> "Head":
        """Fit on the shared feature matrix."""
        model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
        model.fit(matrix, labels)
        return cls([str(k) for k in model.classes_], model.coef_.astype(np.float32),
                   model.intercept_.astype(np.float32))

    def probabilities(self, row: SparseRow) -> np.ndarray:
        """Class probabilities of one feature row: the weights of its columns only."""
        scores = (self.coef[:, row.indices] @ row.values + self.intercept) / self.temperature
        scores = np.exp(scores - scores.max())
        return scores / scores.sum()  # type: ignore[no-any-return]


@dataclass
class Models:
    """The shared features, the intent and language heads, and the data they came from."""

    features: FeatureUnion
    intents: Head
    languages: Head
    fingerprint: str
    version: int = MODEL_VERSION

    def vector(self, text: str) -> Any:
        """The feature row of a message as a sparse matrix (what `reference_vector` gives)."""
        row = self.row(text)
        return sparse.csr_matrix((row.values, row.indices, [0, len(row.indices)]),
                                 shape=(1, row.width))

    def row(self, text: str) -> SparseRow:
        """The feature row of a message (computed once, used by both heads).

        The same TF-IDF as the fitted vectorizers (sublinear tf, idf, l2 per block), computed
        from their vocabularies and weights: sklearn's transform costs more in input checks
        than the features themselves for a single message, and so does building a sparse
        matrix. `reference_vector` is the slow twin the tests compare it with.
        """
        document = normalise(text)
        indices: list[int] = []
        values: list[float] = []
        offset = 0
        for analyse, vocabulary, idf, width in self._blocks():
            counts: dict[int, int] = {}
            for token in analyse(document):
                index = vocabulary.get(token)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            block = [(1.0 + math.log(n)) * idf[i] for i, n in counts.items()]
            norm = math.sqrt(sum(v * v for v in block)) or 1.0
            indices.extend(offset + i for i in counts)
            values.extend(v / norm for v in block)
            offset += width
        return SparseRow(np.asarray(indices, dtype=np.int64),
                         np.asarray(values, dtype=np.float32), offset)

    def _blocks(self) -> list[tuple[Any, dict[str, int], list[float], int]]:
        blocks = self.__dict__.get("_blocks_cache")
        if blocks is None:
            blocks = [(vec.build_analyzer(), vec.vocabulary_, vec.idf_.tolist(), len(vec.idf_))
                      for _, vec in self.features.transformer_list]
            self.__dict__["_blocks_cache"] = blocks
        return blocks

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_blocks_cache"}

    def reference_vector(self, text: str) -> Any:
        """The feature row as sklearn computes it (what `vector` must equal)."""
        document = [normalise(text)]
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            parts = [vectorizer.transform(document)
                     for _, vectorizer in self.features.transformer_list]
        return sparse.hstack(parts, format="csr")

    def knows_a_word(self, text: str) -> bool:
        """Whether any word of the message occurs in the training data (gibberish has none)."""
        words = dict(self.features.transformer_list)["words"]
        analyse = words.build_analyzer()
        return any(token in words.vocabulary_ for token in analyse(normalise(text)))

    def intent(self, text: str, row: Any = None) -> tuple[str, float, list[tuple[str, float]]]:
        """Best intent, its probability, and the top three."""
        probs = self.intents.probabilities(self.row(text) if row is None else row)
        order = np.argsort(-probs)[:3]
        ranked = [(self.intents.classes[i], float(probs[i])) for i in order]
        return ranked[0][0], ranked[0][1], ranked

    def language(self, text: str, row: Any = None) -> tuple[str, float]:
        """Most likely language and its probability."""
        probs = self.languages.probabilities(self.row(text) if row is None else row)
        best = int(probs.argmax())
        return self.languages.classes[best], float(probs[best])


def calibrate(texts: list[str], labels: list[str], c: float, folds: int = 5) -> float:
    """The softmax temperature that minimises the log loss of out-of-fold predictions.

    Fitted on the training data only (cross-validation), never on the held-out set.
    """
    logits, truth = [], []
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=0).split(
            texts, labels):
        features = _features()
        head = Head.fit(features.fit_transform([texts[i] for i in train_idx]),
                        [labels[i] for i in train_idx], c)
        matrix = features.transform([texts[i] for i in test_idx])
        logits.append(np.asarray(matrix @ head.coef.T) + head.intercept)
        truth += [head.classes.index(labels[i]) for i in test_idx]
    scores, answers = np.vstack(logits), np.array(truth)

    def log_loss(temperature: float) -> float:
        scaled = scores / temperature
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        log_probs = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(len(answers)), answers].mean())

    return float(minimize_scalar(log_loss, bounds=(0.05, 5.0), method="bounded").x)


def train(examples: list[Example], fingerprint: str = "") -> Models:
    """Fit the shared features and both heads on the examples, the intent head calibrated."""
    texts = [normalise(e.text) for e in examples]
    intents = [e.intent for e in examples]
    features = _features()
    matrix = features.fit_transform(texts)
    intent_head = Head.fit(matrix, intents, c=20.0)
    intent_head.temperature = calibrate(texts, intents, c=20.0)
    return Models(features, intent_head,
                  Head.fit(matrix, [e.language for e in examples], c=10.0), fingerprint)


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
