"""Reading a driving licence from a phone photo.

Find the card, straighten it, read the numbered fields with Tesseract (deu+fra+ita+eng), and
say how sure each field is.

The EU / Swiss card numbers its fields the same in every language (1 surname, 2 given names,
3 birth date, 4a issued, 4b expires, 4c authority, 5 number, 9 categories), so the fields are
found by their numbers, not by words. Confidence per field comes from Tesseract's word
confidences and from whether the value has the shape the field must have.
"""

from __future__ import annotations

import io
import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from bot.licence_checks import LicenceReading

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # two threads never helped (NOTES.md)
log = logging.getLogger(__name__)
MAX_BYTES = 15 * 1024 * 1024
MAX_PIXELS = 40_000_000  # larger images are refused (decompression bombs)
CARD = (1012, 638)
LANGUAGES = "deu+fra+ita+eng"
CATEGORIES = {"AM", "A1", "A2", "A", "B1", "B", "BE", "C1", "C1E", "C", "CE", "D1", "D1E", "D",
              "DE", "F", "G", "M", "T"}
LABEL = re.compile(r"^\s*(1|2|3|4\s*[aA]|4\s*[bB]|4\s*[cC]|5|9)(?:\s*[.,:]\s*|\s+)(.*)$")
ONE_LIKE = re.compile(r"(?<=[ABCD])[LI|l!]")  # "A1" read as "AL" or "AI"
DATE = re.compile(r"(\d{1,2})\s*[.,/-]\s*(\d{1,2})\s*[.,/-]\s*(\d{4})")
LICENCE_NUMBER = re.compile(r"(?<![A-Z0-9])([A-Z]{1,3}\d{5,10}|\d{6,12})(?![A-Z0-9])")


class UnreadableImage(ValueError):
    """The file is not an image we can read (corrupt, too large, not a photo)."""


@dataclass(frozen=True)
class Line:
    """One line of text Tesseract read, its words' confidences (0-1) and position."""

    text: str
    confidence: float
    top: int
    words: tuple[tuple[str, float], ...] = ()

    def confidence_of(self, value: str) -> float:
        """The weakest word of `value` (stray marks around it do not count)."""
        scores = [c for w, c in self.words if w.strip(" |.,:") and w.strip(" |.,:") in value]
        return min(scores) if scores else self.confidence


FULL_SCORE = 8  # six fields found, both names by their labels
MAX_PDF_PAGES = 3  # a scan of the front, maybe the back: never a whole document


def load_pages(data: bytes) -> list[Image.Image]:
    """The images to look at: the photo, or the first pages of a PDF scan."""
    if len(data) > MAX_BYTES:
        raise UnreadableImage("too_large")
    if not data.startswith(b"%PDF"):
        return [load(data)]
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        raise UnreadableImage("corrupt") from exc
    try:
        pages = []
        for index in range(min(len(pdf), MAX_PDF_PAGES)):
            page = pdf[index]
            width, height = page.get_size()
            scale = min(4.0, 1600 / max(width, height, 1))  # about 1600 px on the long side
            pages.append(page.render(scale=scale).to_pil().convert("RGB"))
        return pages
    finally:
        pdf.close()


def load(data: bytes) -> Image.Image:
    """The photo, upright as the phone meant it; refuses oversized and corrupt files.

    JPEG, PNG, WebP and HEIC (iPhones), through Pillow and pillow-heif.
    """
    if len(data) > MAX_BYTES:
        raise UnreadableImage("too_large")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    _register_heif()
    try:
        opened = Image.open(io.BytesIO(data))
        if opened.width * opened.height > MAX_PIXELS:
            raise UnreadableImage("too_large")
        image = ImageOps.exif_transpose(opened).convert("RGB")
    except Image.DecompressionBombError as exc:
        raise UnreadableImage("too_large") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnreadableImage("corrupt") from exc
    return image


def _register_heif() -> None:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # pragma: no cover - HEIC photos are then refused as unreadable
        return
    register_heif_opener()


def find_card(image: Image.Image) -> np.ndarray | None:
    """The card cut out and straightened to 1012x638 (landscape), or None if not found."""
    import cv2

    rgb = np.asarray(image)
    scale = 1000 / max(rgb.shape[:2])
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    gray = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), (5, 5), 0)
    edges = cv2.dilate(cv2.Canny(gray, 30, 120), np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    area = small.shape[0] * small.shape[1]
    for contour in sorted(contours, key=cv2.contourArea, reverse=True)[:5]:
        if cv2.contourArea(contour) < 0.08 * area:
            break
        hull = cv2.convexHull(contour)
        quad = cv2.approxPolyDP(hull, 0.03 * cv2.arcLength(hull, True), True)
        if len(quad) != 4:
            quad = cv2.boxPoints(cv2.minAreaRect(hull)).reshape(4, 1, 2)
        corners = _order(quad.reshape(4, 2).astype(np.float32) / scale)
        top, left = np.linalg.norm(corners[1] - corners[0]), np.linalg.norm(corners[3] - corners[0])
        if left > top:  # the card stands on its side: start from the next corner
            corners = np.roll(corners, -1, axis=0)
        target = np.array([[0, 0], [CARD[0], 0], [CARD[0], CARD[1]], [0, CARD[1]]], dtype=np.float32)
        matrix = cv2.getPerspectiveTransform(corners, target)
        return cv2.warpPerspective(rgb, matrix, CARD, flags=cv2.INTER_CUBIC)
    return None


def _order(points: np.ndarray) -> np.ndarray:
    """Top-left, top-right, bottom-right, bottom-left."""
    total, diff = points.sum(axis=1), np.diff(points, axis=1).ravel()
    return np.array([points[np.argmin(total)], points[np.argmin(diff)],
                     points[np.argmax(total)], points[np.argmax(diff)]], dtype=np.float32)


def read_lines(card: np.ndarray, upscale: bool = True) -> list[Line]:
    """Tesseract over the card, lines with their weakest word confidence."""
    import cv2
    import pytesseract

    gray = cv2.cvtColor(card, cv2.COLOR_RGB2GRAY)
    if upscale and gray.shape[1] < 1500:  # accents on capitals need the letters larger than a card scan
        gray = cv2.resize(gray, None, fx=1.6, fy=1.6, interpolation=cv2.INTER_CUBIC)
    gray = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(gray)  # uneven light
    data = pytesseract.image_to_data(gray, lang=LANGUAGES, config="--psm 6",
                                     output_type=pytesseract.Output.DICT)
    lines: dict[tuple[int, int, int], list[tuple[str, float, int]]] = {}
    for i, word in enumerate(data["text"]):
        if not word.strip():
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        lines.setdefault(key, []).append((word, max(0.0, float(data["conf"][i])) / 100,
                                          data["top"][i]))
    return sorted((Line(" ".join(w for w, _, _ in words), min(c for _, c, _ in words),
                        min(t for _, _, t in words), tuple((w, c) for w, c, _ in words))
                   for words in lines.values()), key=lambda line: line.top)


_RAPID: Any = None


def rapid_engine() -> Any:
    """RapidOCR (ONNX models inside its wheel, offline), loaded once; None if not installed."""
    global _RAPID
    if _RAPID is None:
        try:
            from rapidocr import RapidOCR
        except ImportError:  # pragma: no cover - an install without the second engine
            _RAPID = False
            return None
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        _RAPID = RapidOCR(params={"Global.log_level": "warning"})
    return _RAPID or None


def read_lines_rapid(card: np.ndarray) -> list[Line]:
    """RapidOCR over the card: its boxes grouped into lines by height on the card."""
    engine = rapid_engine()
    if engine is None:
        return []
    result = engine(card)
    if result.boxes is None or result.txts is None:
        return []
    boxes = []
    for box, text, score in zip(result.boxes, result.txts, result.scores, strict=True):
        ys, xs = [p[1] for p in box], [p[0] for p in box]
        boxes.append(((min(ys) + max(ys)) / 2, max(ys) - min(ys), min(xs), str(text),
                      float(score)))
    boxes.sort()
    rows: list[list[tuple[float, float, float, str, float]]] = []
    for item in boxes:
        if rows and abs(item[0] - rows[-1][0][0]) < 0.5 * max(item[1], rows[-1][0][1]):
            rows[-1].append(item)
        else:
            rows.append([item])
    lines = []
    for row in rows:
        row.sort(key=lambda b: b[2])
        words = tuple((text, score) for _, _, _, text, score in row)
        lines.append(Line(" ".join(w for w, _ in words), min(c for _, c in words),
                          int(row[0][0]), words))
    return lines


def _tesseract_lines(card: np.ndarray) -> list[Line]:
    """Tesseract's lines, or none when it is not installed (fields then stay unsure)."""
    import pytesseract

    try:
        return read_lines(card)
    except (pytesseract.TesseractNotFoundError, pytesseract.TesseractError) as exc:
        log.warning("tesseract unavailable (%s): the licence goes to staff", type(exc).__name__)
        return []


def cross_check(primary: dict[str, tuple[str, float]],
                other: dict[str, tuple[str, float]]) -> dict[str, tuple[str, float]]:
    """Two engines: where they read a field differently, nobody is sure of it."""
    from bot.licence_checks import fold

    def same(key: str, a: str, b: str) -> bool:
        if key in ("3", "4a", "4b"):
            return _date(a) is not None and _date(a) == _date(b)
        if key == "9":
            return set(_categories(a)) == set(_categories(b))
        return fold(a).replace(" ", "") == fold(b).replace(" ", "")

    checked = {}
    for key, (value, confidence) in primary.items():
        second = other.get(key)
        agreed = second is not None and same(key, value, second[0])
        checked[key] = (value, confidence if agreed else min(confidence, 0.5))
    return checked


def parse(lines: list[Line]) -> tuple[dict[str, tuple[str, float]], int]:
    """Field number -> (text, confidence), and how much of a licence the lines look like.

    Labels are small and often misread ("4c." as "ac."), so values decide where they can:
    the three dates are birth < issue < expiry whatever their labels say, the number is the
    line shaped like one after label 5, the categories are the line made of category codes.
    """
    fields: dict[str, tuple[str, float]] = {}
    labelled: list[tuple[str, Line, str]] = []
    for line in lines:
        for start in range(min(len(line.text), 8)):  # a stray mark may precede the label
            match = LABEL.match(line.text[start:])
            if match and (start == 0 or line.text[start - 1] == " "):
                labelled.append((match.group(1).replace(" ", "").lower(), line,
                                 match.group(2).strip(" |")))
                break
        else:
            labelled.append(("", line, line.text.strip(" |")))
    for label, line, value in labelled:
        if label in ("1", "2") and label not in fields and _name(value):
            fields[label] = (value, line.confidence_of(value))
    dated = [(d, line, value) for _, line, value in labelled if (d := _date(value))]
    if len(dated) >= 2:
        ordered = sorted(dated, key=lambda item: item[0])
        fields["3"] = (ordered[0][2], ordered[0][1].confidence_of(ordered[0][2]))
        fields["4b"] = (ordered[-1][2], ordered[-1][1].confidence_of(ordered[-1][2]))
        if len(ordered) >= 3:
            fields["4a"] = (ordered[1][2], ordered[1][1].confidence_of(ordered[1][2]))
    for label, line, value in labelled:
        compact = value.replace(" ", "").upper()
        number = None if _date(value) else LICENCE_NUMBER.search(value.upper())
        if "5" not in fields and number is not None:
            fields["5"] = (number.group(1), line.confidence_of(number.group(1)))
        elif "9" not in fields and (codes := _categories(value)) and len(codes) * 2 >= len(compact):
            # a repaired "1" is a guess: never surer than a coin toss of certainty
            fields["9"] = (" ".join(codes), line.confidence_of(value)
                           if not ONE_LIKE.search(value.upper()) else min(0.6, line.confidence))
        elif label == "4c" and "4c" not in fields:
            fields["4c"] = (value, line.confidence_of(value))
    # Unlabelled names: the surname is the first name-like line under the title, the given
    # names the line right under the surname (never the authority further down).
    if "1" not in fields:
        first = next((i for i, (label, _, v) in enumerate(labelled) if i and _name(v)
                      and len(v) >= 3 and not _date(v) and label not in ("4c", "9", "5")), None)
        if first is not None:
            value, line = labelled[first][2], labelled[first][1]
            fields["1"] = (value, line.confidence_of(value) * 0.8)
    if "2" not in fields and "1" in fields:
        surname_at = next((i for i, (_, _, v) in enumerate(labelled) if v == fields["1"][0]), None)
        if surname_at is not None and surname_at + 1 < len(labelled):
            _, line, value = labelled[surname_at + 1]
            if _name(value) and not _date(value) and len(value) >= 3:
                fields["2"] = (value, line.confidence_of(value) * 0.8)
    # Names found by their labels count more: an upside-down read finds dates and numbers by
    # value but its names only by guessing.
    score = sum(1 for key in ("1", "2", "3", "4b", "5", "9") if key in fields)
    score += sum(1 for label, _, _ in labelled if label in ("1", "2"))
    return fields, score


def _categories(text: str) -> list[str]:
    """Category codes in a line, also when the spaces between them were lost ("AMA1B")."""
    text = re.sub(r"^\W*\d{1,2}\s*[.,:]\s*", "", text)  # the label, however it was read
    codes: list[str] = []
    for word in re.split(r"[\s,/|]+", ONE_LIKE.sub("1", text.upper())):
        rest = re.sub(r"[^A-Z0-9]", "", word)
        while rest:
            code = next((c for c in sorted(CATEGORIES, key=len, reverse=True)
                         if rest.startswith(c)), None)
            if code is None:
                return []
            codes.append(code)
            rest = rest[len(code):]
    return codes


def _date(text: str) -> date | None:
    match = DATE.search(text)
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _name(text: str) -> str | None:
    words = [w.strip(".,;:|") for w in re.split(r"\s+", text) if w]
    letters = [w for w in words if re.fullmatch(r"[A-ZÀ-ÖØ-Þ][A-ZÀ-ÖØ-Þ'\-]+", w)]
    return " ".join(letters) or None


def to_reading(fields: dict[str, tuple[str, float]], found: int) -> LicenceReading:
    """The licence fields with their confidence; not a licence when little was found."""
    checked_by_value = sum(1 for key in ("3", "4b", "5", "9") if key in fields)
    if found < 4 or checked_by_value < 2:  # names alone could be any text
        return LicenceReading(is_licence=False, problems=["not_a_licence"])
    reading = LicenceReading(is_licence=True)
    text = lambda key: fields.get(key, ("", 0.0))  # noqa: E731
    surname, c = text("1")
    reading.surname = _name(surname)
    reading.confidence["surname"] = c if reading.surname else 0.0
    given, c = text("2")
    reading.given_names = _name(given)
    reading.confidence["given_names"] = c if reading.given_names else 0.0
    for key, attr in (("3", "birth_date"), ("4a", "issue_date"), ("4b", "expiry_date")):
        value, c = text(key)
        setattr(reading, attr, _date(value))
        if attr != "issue_date":
            reading.confidence[attr] = c if getattr(reading, attr) else 0.0
    reading.authority = text("4c")[0] or None
    number, c = text("5")
    reading.licence_number = number or None
    reading.confidence["licence_number"] = c if reading.licence_number else 0.0
    cats, c = text("9")
    reading.categories = tuple(cats.split()) if cats else ()
    reading.confidence["categories"] = c if reading.categories else 0.0
    reading.problems = [f"unreadable:{k}" for k, v in reading.confidence.items() if v == 0.0]
    return reading


def read_licence(data: bytes) -> LicenceReading:
    """Everything above, for one photo or PDF scan; never raises for a bad file."""
    try:
        pages = load_pages(data)
    except UnreadableImage as exc:
        return LicenceReading(is_licence=False, problems=[str(exc)])
    reading = LicenceReading(is_licence=False, problems=["not_a_licence"])
    for page in pages:  # the first page that shows a licence
        reading = read_image(page)
        if reading.is_licence:
            break
    return reading


def read_image(image: Image.Image) -> LicenceReading:
    """The licence in one image."""
    started = time.perf_counter()
    card = find_card(image)
    best: tuple[dict[str, tuple[str, float]], int] = ({}, 0)
    if card is not None:
        # RapidOCR reads the card (accents included) the way up that finds the most labels;
        # Tesseract then reads the same way up, and a field they disagree on is unsure.
        chosen, rapid = card, parse(read_lines_rapid(card))
        if rapid[1] < FULL_SCORE:
            turned = np.ascontiguousarray(np.rot90(card, 2))
            other = parse(read_lines_rapid(turned))
            if other[1] > rapid[1]:
                chosen, rapid = turned, other
        tess = parse(_tesseract_lines(chosen))
        if rapid[1] >= 4:
            best = (cross_check(rapid[0], tess[0]), rapid[1])
        elif tess[1] >= 4:
            best = (cross_check(tess[0], rapid[0]), tess[1])
    if best[1] < 4:  # no card edge found: the whole photo, turned each way
        whole = np.asarray(image)
        for turn in range(4):
            fields, found = parse(read_lines(np.ascontiguousarray(np.rot90(whole, turn)),
                                             upscale=False))
            if found > best[1]:
                best = (fields, found)
            if found >= 5:
                break
    reading = to_reading(*best)
    log.info("licence read in %.2f s: licence=%s, fields=%s", time.perf_counter() - started,
             reading.is_licence, best[1])  # never the values: they are personal data
    return reading
