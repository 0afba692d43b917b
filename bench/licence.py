"""Licence OCR benchmark: synthetic phone photos with known truth (tests/licence_photos.py).

Prints per-field accuracy, whole-licence accuracy, the share right and sure enough to pass
without a person, silent errors (a wrong field read with
confidence at or above the acceptance threshold), non-licence recognition and time per image.

    python -m bench.licence [--images 40]
"""

from __future__ import annotations

import argparse
import time

from bot.licence_checks import MIN_CONFIDENCE
from bot.sample_licences import licence_photo, not_a_licence
from bot.services.ocr import read_licence

FIELDS = ("surname", "given_names", "birth_date", "expiry_date", "licence_number", "categories")


def run(images: int, hard: bool) -> dict[str, float]:
    right = dict.fromkeys(FIELDS, 0)
    whole = silent = sure = 0
    times = []
    for seed in range(1000, 1000 + images):
        data, truth = licence_photo(seed, hard=hard)
        started = time.perf_counter()
        reading = read_licence(data)
        times.append(time.perf_counter() - started)
        ok = True
        for name in FIELDS:
            value, expected = getattr(reading, name), getattr(truth, name)
            good = tuple(value) == expected if name == "categories" else value == expected
            right[name] += good
            ok = ok and good
            if not good and value not in (None, ()) and \
                    reading.confidence.get(name, 0.0) >= MIN_CONFIDENCE:
                silent += 1
        whole += ok
        sure += ok and reading.overall_confidence >= MIN_CONFIDENCE  # no person needed
    times.sort()
    result = {name: 100 * right[name] / images for name in FIELDS}
    result.update(whole=100 * whole / images, sure=100 * sure / images, silent=silent,
                  p50=times[len(times) // 2],
                  p95=times[int(0.95 * (len(times) - 1))])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=40)
    args = parser.parse_args()
    print(f"| photos (n={args.images}) | " + " | ".join(FIELDS) +
          " | whole | right and sure | silent errors | p50 s | p95 s |")
    print("|" + "---|" * (len(FIELDS) + 7))
    for label, hard in (("moderate", False), ("hard (turned, more skew)", True)):
        r = run(args.images, hard)
        print(f"| {label} | " + " | ".join(f"{r[f]:.0f}%" for f in FIELDS) +
              f" | {r['whole']:.0f}% | {r['sure']:.0f}% | {r['silent']:.0f} | {r['p50']:.2f}"
              f" | {r['p95']:.2f} |",
              flush=True)
    others = 12
    rejected = sum(not read_licence(not_a_licence(seed)).is_licence for seed in range(others))
    print(f"\nnon-licence photos recognised: {100 * rejected / others:.0f}% (n={others})")


if __name__ == "__main__":
    main()
