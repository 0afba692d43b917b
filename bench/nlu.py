"""NLU benchmark: accuracy on the held-out sets, latency, model load time and memory.

    python -m bench.nlu [--rasa-url http://127.0.0.1:5005]

Intent accuracy per language on nlu/tests/held_out.jsonl; language identification on whole
sentences (the same file) and on 1-3 word messages (language_short.jsonl); entity exact match
(entities.jsonl); latency p50/p99 per message on one core; load time cold (training) and from
the cache; resident memory of a process that has loaded the built-in NLU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "nlu" / "tests"


def read(name: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in (TESTS / name).read_text().splitlines() if line.strip()]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def intent_table(name: str, parser) -> list[str]:  # type: ignore[no-untyped-def]
    held = read("held_out.jsonl")
    by_language: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    times = []
    for item in held:
        started = time.perf_counter()
        result = parser.parse(item["text"], date(2027, 3, 8))
        times.append((time.perf_counter() - started) * 1000)
        by_language[item["language"]][0] += result.intent == item["intent"]
        by_language[item["language"]][1] += 1
    total = sum(c for c, _ in by_language.values()) / sum(n for _, n in by_language.values())
    cells = " | ".join(f"{by_language[lang][0] / by_language[lang][1]:5.1%}"
                       for lang in ("de", "fr", "it", "en", "rm"))
    return [f"| {name:22} | {total:7.1%} | {cells} | {percentile(times, 0.5):6.2f} | "
            f"{percentile(times, 0.99):6.2f} |"]


def language_rows(parser) -> list[str]:  # type: ignore[no-untyped-def]
    rows = []
    for label, items in (("whole sentences", read("held_out.jsonl")),
                         ("1-3 words", read("language_short.jsonl"))):
        right = sum(parser.language(i["text"]) == i["language"] for i in items)
        rows.append(f"| language id, {label:18} | {right / len(items):6.1%} | n={len(items)} |")
    return rows


def entity_row() -> str:
    from nlu.entities import extract

    items = read("entities.jsonl")
    right = sum(extract(i["text"], date.fromisoformat(i["today"])) == i["entities"] for i in items)
    return f"| entities exact (ref, plate, date) | {right / len(items):6.1%} | n={len(items)} |"


def load_times() -> list[str]:
    from nlu.classifier import load_or_train

    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        load_or_train(Path(cache))
        cold = time.perf_counter() - started
        started = time.perf_counter()
        load_or_train(Path(cache))
        warm = time.perf_counter() - started
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve from the parent.
    probe = ("import sys; from pathlib import Path; from nlu import BuiltinParser; "
             "p = BuiltinParser.load(Path(sys.argv[1])); p.parse('Grüezi'); "
             "print([int(l.split()[1]) / 1024 for l in open('/proc/self/status') "
             "if l.startswith('VmHWM')][0])")
    with tempfile.TemporaryDirectory() as cache:
        from nlu.classifier import load_or_train as warm_up

        warm_up(Path(cache))
        rss = float(subprocess.run([sys.executable, "-c", probe, cache], capture_output=True,
                                   text=True, check=True).stdout.strip())
    return [f"| model load, cold (training)       | {cold:6.2f} s |",
            f"| model load, from the cache        | {warm:6.2f} s |",
            f"| resident memory, process with NLU | {rss:6.0f} MB |"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rasa-url", default=os.environ.get("CRMS_BENCH_RASA_URL"))
    args = parser.parse_args()
    from nlu import BuiltinParser, RuleBasedParser
    from nlu.backend import RasaParser

    builtin = BuiltinParser.load()
    print(f"| {'backend':22} | {'overall':>7} | {'de':>5} | {'fr':>5} | {'it':>5} | {'en':>5} | "
          f"{'rm':>5} | p50 ms | p99 ms |")
    print("|" + "|".join(["-" * 24, "-" * 9] + ["-" * 7] * 5 + ["-" * 8] * 2) + "|")
    for line in intent_table("built-in (TF-IDF + LR)", builtin):
        print(line)
    for line in intent_table("keyword rules (v1)", RuleBasedParser()):
        print(line)
    if args.rasa_url:
        rasa = RasaParser(args.rasa_url, builtin, timeout=10)
        for line in intent_table("Rasa 3.6 DIET", rasa):
            print(line)
    print()
    for line in [*language_rows(builtin), entity_row(), *load_times()]:
        print(line)


if __name__ == "__main__":
    main()
