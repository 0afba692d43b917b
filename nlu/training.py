"""Training data in Rasa's NLU YAML format: one file per language under nlu/data."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Example:
    """One labelled message."""

    text: str
    intent: str
    language: str


def load_examples(data_dir: Path = DATA_DIR) -> list[Example]:
    """Every example of every language file (`de.yml`, `fr.yml`, …)."""
    examples = []
    for path in sorted(data_dir.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in document.get("nlu", []):
            for line in str(block.get("examples", "")).splitlines():
                text = line.strip().removeprefix("- ").strip()
                if text:
                    examples.append(Example(text, block["intent"], path.stem))
    return examples


def data_fingerprint(data_dir: Path = DATA_DIR) -> str:
    """A hash of the training data, so a cached model is rebuilt when the data changes."""
    digest = hashlib.sha256()
    for path in sorted(data_dir.glob("*.yml")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]
