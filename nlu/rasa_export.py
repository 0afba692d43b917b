"""`crms-bot nlu export-rasa DIR`: a Rasa 3.6 project (config, domain, data) from nlu/data."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from nlu.training import DATA_DIR, load_examples

CONFIG = {
    "recipe": "default.v1",
    "language": "xx",  # several languages, no spaCy: tokenise on white space
    "assistant_id": "crms-chat",
    "pipeline": [
        {"name": "WhitespaceTokenizer"},
        {"name": "RegexFeaturizer"},
        {"name": "LexicalSyntacticFeaturizer"},
        {"name": "CountVectorsFeaturizer"},
        {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 2, "max_ngram": 5},
        {"name": "DIETClassifier", "epochs": 100, "constrain_similarities": True},
        {"name": "FallbackClassifier", "threshold": 0.3},
    ],
    "policies": [],
}


def export(target: Path, data_dir: Path = DATA_DIR) -> list[Path]:
    """Write config.yml, domain.yml and data/nlu_<language>.yml; returns the files written."""
    target.mkdir(parents=True, exist_ok=True)
    (target / "data").mkdir(exist_ok=True)
    written = []
    for source in sorted(data_dir.glob("*.yml")):
        destination = target / "data" / f"nlu_{source.stem}.yml"
        shutil.copyfile(source, destination)
        written.append(destination)
    intents = sorted({e.intent for e in load_examples(data_dir)})
    config = target / "config.yml"
    config.write_text(yaml.safe_dump(CONFIG, sort_keys=False), encoding="utf-8")
    domain = target / "domain.yml"
    domain.write_text(yaml.safe_dump({"version": "3.1", "intents": intents}, sort_keys=False),
                      encoding="utf-8")
    return [config, domain, *written]
