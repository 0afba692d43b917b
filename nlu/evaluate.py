"""Evaluate a parser on labelled JSONL: accuracy per intent and per language, confusions."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Protocol

from nlu.parser import NluResult


class Parser(Protocol):
    """Anything with parse(text) -> NluResult."""

    def parse(self, text: str) -> NluResult:
        """Understand one message."""
        ...


def evaluate(parser: Parser, path: str | Path) -> dict[str, Any]:
    """Run the parser over `{"text", "intent", "language"?}` lines and score it."""
    per_intent: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_language: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    confusions: Counter[tuple[str, str, str]] = Counter()
    total = correct = 0
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        predicted = parser.parse(item["text"]).intent
        ok = predicted == item["intent"]
        total += 1
        correct += ok
        for table, key in ((per_intent, item["intent"]), (per_language, item.get("language", "?"))):
            table[key][0] += ok
            table[key][1] += 1
        if not ok:
            confusions[(item.get("language", "?"), item["intent"], predicted)] += 1
    def rows(table: dict[str, list[int]]) -> dict[str, Any]:
        return {k: {"accuracy": round(c / n, 3), "n": n} for k, (c, n) in sorted(table.items())}
    return {"accuracy": round(correct / total, 3) if total else 0.0, "n": total,
            "per_intent": rows(per_intent), "per_language": rows(per_language),
            "confusions": [{"language": lang, "expected": e, "predicted": p, "count": n}
                           for (lang, e, p), n in sorted(confusions.items(),
                                                         key=lambda kv: (kv[0][0], -kv[1]))]}


def format_report(report: dict[str, Any]) -> str:
    """The report as a plain table."""
    lines = [f"accuracy {report['accuracy']:.3f} on {report['n']} messages", "",
             f"{'intent':20} {'accuracy':>8} {'n':>5}"]
    lines += [f"{k:20} {v['accuracy']:8.3f} {v['n']:5}" for k, v in report["per_intent"].items()]
    lines += ["", f"{'language':20} {'accuracy':>8} {'n':>5}"]
    lines += [f"{k:20} {v['accuracy']:8.3f} {v['n']:5}" for k, v in report["per_language"].items()]
    if report["confusions"]:
        lines += ["", "confusions by language (expected -> predicted: count)"]
        lines += [f"  {c['language']}: {c['expected']} -> {c['predicted']}: {c['count']}"
                  for c in report["confusions"]]
    return "\n".join(lines)
