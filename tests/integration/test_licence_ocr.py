"""Reading licences from synthetic phone photos with Tesseract (Debian's tesseract-ocr)."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bot.licence_checks import MIN_CONFIDENCE
from bot.sample_licences import licence_photo, not_a_licence
from bot.services.ocr import read_licence

SEEDS = range(100, 108)
KEY = ("surname", "given_names", "birth_date", "expiry_date", "licence_number")


@pytest.fixture(scope="module")
def readings():  # type: ignore[no-untyped-def]
    return [(read_licence(data), truth) for data, truth in map(licence_photo, SEEDS)]


def test_the_card_is_found_straightened_and_its_fields_read(readings):
    right = {k: sum(getattr(r, k) == getattr(t, k) for r, t in readings) for k in KEY}
    assert all(r.is_licence for r, _ in readings)
    assert right == dict.fromkeys(KEY, len(readings)), right  # accents included
    assert all(tuple(r.categories) == t.categories for r, t in readings)


def test_a_field_the_two_engines_read_differently_is_never_sure():
    from bot.services.ocr import cross_check

    checked = cross_check({"1": ("MÜLLER", 0.95), "5": ("ZH123456", 0.9)},
                          {"1": ("MULLER", 0.9), "5": ("ZH128456", 0.9)})
    assert checked["1"] == ("MÜLLER", 0.95)  # the same letters: an accent one engine lost
    assert checked["5"][1] < MIN_CONFIDENCE


def test_hard_photos_are_wrong_only_where_unsure():
    for seed in range(200, 206):  # turned upside down or sideways, more skew and blur
        data, truth = licence_photo(seed, hard=True)
        reading = read_licence(data)
        for key in KEY:
            value = getattr(reading, key)
            if value is not None and value != getattr(truth, key):
                assert reading.confidence[key] < MIN_CONFIDENCE, (seed, key)


def test_other_pictures_are_not_licences():
    assert not any(read_licence(not_a_licence(seed)).is_licence for seed in range(6))


def test_corrupt_and_oversized_files_get_a_reason_not_a_crash():
    assert read_licence(b"\xff\xd8not really a jpeg").problems == ["corrupt"]
    huge = io.BytesIO()
    Image.new("L", (9000, 9000)).save(huge, "PNG")  # 81 megapixels of nothing
    assert read_licence(huge.getvalue()).problems == ["too_large"]


def test_licence_scan_prints_the_design_contract(tmp_path):
    data, truth = licence_photo(101)
    (tmp_path / "front.jpg").write_bytes(data)
    (tmp_path / "receipt.jpg").write_bytes(not_a_licence(0))
    bin_ = str(Path(sys.executable).parent / "crms-bot")
    done = subprocess.run([bin_, "licence", "scan", str(tmp_path / "front.jpg"),
                           str(tmp_path / "receipt.jpg"), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    front, receipt = (json.loads(line) for line in done.stdout.splitlines())
    assert front["is_licence"] and front["surname"] == truth.surname
    assert front["birth_date"] == truth.birth_date.isoformat()
    assert set(front) >= {"surname", "given_names", "birth_date", "expiry_date",
                          "licence_number", "categories", "confidence", "problems"}
    assert receipt["is_licence"] is False
    assert truth.surname not in done.stderr  # field values never reach the logs


@pytest.mark.parametrize("kind", ["PDF", "HEIF", "WEBP"])
def test_pdf_scans_heic_and_webp_photos_are_read(kind):
    data, truth = licence_photo(102)
    photo = Image.open(io.BytesIO(data))
    out = io.BytesIO()
    if kind == "PDF":  # a two-page scan: a cover page, then the licence
        Image.open(io.BytesIO(not_a_licence(0))).save(out, "PDF", save_all=True,
                                                       append_images=[photo])
    else:
        if kind == "HEIF":
            from pillow_heif import register_heif_opener

            register_heif_opener()
        photo.save(out, kind, quality=85)
    reading = read_licence(out.getvalue())
    assert reading.is_licence and reading.surname == truth.surname
    assert reading.licence_number == truth.licence_number


def test_a_broken_pdf_gets_a_reason():
    assert read_licence(b"%PDF-1.7\n1 0 obj << broken").problems == ["corrupt"]
