"""Synthetic driving-licence photos with known truth: the sandbox, the tests, `bench/licence`.

A card in the EU / Swiss layout (numbered fields 1, 2, 3, 4a, 4b, 4c, 5, 9) is rendered with
Pillow, then "photographed": put on a background, seen at an angle (perspective), turned,
blurred, lit unevenly and saved as JPEG. Everything is drawn from a seed, so a failure can be
reproduced.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
CARD = (1012, 638)  # 85.6 x 54 mm at about 300 dpi
SURNAMES = ["MÜLLER", "FAVRE", "ROSSI", "MILLER", "MEIER", "BÉGUIN", "CASTELLANI", "KÜNZLI",
            "DUBOIS", "BERNASCONI", "SCHNYDER", "GRÜNENFELDER", "LÉVÊQUE", "ZÜRCHER"]
GIVEN = ["ANNA", "CHLOÉ", "MARCO", "JAMES", "LUCA", "SÉVERINE", "JÖRG", "FRANÇOIS", "GIULIA",
         "ANNA MARIA", "JEAN-LUC", "NOËMI", "PETER HANS"]
TOWNS = ["ZÜRICH", "GENÈVE", "LUGANO", "BERN", "BASEL", "SION", "CHUR", "LAUSANNE"]
AUTHORITIES = ["STVA ZH", "SCAN GE", "SEZIONE CIRCOLAZIONE TI", "SVSA BE", "MFK BS"]
CATEGORY_SETS = [("B",), ("A1", "B"), ("B", "BE"), ("A", "B", "BE"), ("B", "C1", "D1"),
                 ("AM", "A1", "B", "F", "G", "M")]


@dataclass
class Truth:
    """What the card says."""

    surname: str
    given_names: str
    birth_date: date
    issue_date: date
    expiry_date: date
    authority: str
    licence_number: str
    categories: tuple[str, ...]
    birth_place: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def random_truth(rng: random.Random) -> Truth:
    """A plausible licence holder."""
    birth = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55))
    issue = date(2005, 1, 1) + timedelta(days=rng.randrange(0, 365 * 20))
    letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2))
    number = f"{letters}{rng.randrange(100000, 999999)}"
    return Truth(rng.choice(SURNAMES), rng.choice(GIVEN), birth, issue,
                 issue + timedelta(days=365 * rng.choice((10, 15))), rng.choice(AUTHORITIES),
                 number, rng.choice(CATEGORY_SETS), rng.choice(TOWNS))


def render_card(truth: Truth) -> Image.Image:
    """The front of the card, flat and sharp."""
    card = Image.new("RGB", CARD, (247, 214, 222))  # the pink of the EU model
    draw = ImageDraw.Draw(card)
    head, body, small = (ImageFont.truetype(FONT_BOLD, 24), ImageFont.truetype(FONT, 34),
                         ImageFont.truetype(FONT, 22))
    draw.rounded_rectangle((0, 0, CARD[0] - 1, CARD[1] - 1), 36, outline=(200, 150, 165), width=4)
    draw.text((40, 28), "FÜHRERAUSWEIS  PERMIS DE CONDUIRE  LICENZA DI CONDURRE", font=head,
              fill=(60, 40, 90))
    draw.ellipse((40, 90, 110, 160), fill=(200, 30, 40))  # the country badge
    draw.text((55, 105), "CH", font=ImageFont.truetype(FONT_BOLD, 30), fill=(255, 255, 255))
    draw.rectangle((40, 190, 300, 520), fill=(190, 190, 195))  # the holder's photo
    draw.ellipse((110, 240, 230, 380), fill=(150, 130, 120))
    lines = [("1.", truth.surname), ("2.", truth.given_names),
             ("3.", f"{truth.birth_date:%d.%m.%Y} {truth.birth_place}".strip()),
             ("4a.", f"{truth.issue_date:%d.%m.%Y}"), ("4b.", f"{truth.expiry_date:%d.%m.%Y}"),
             ("4c.", truth.authority), ("5.", truth.licence_number)]
    y = 110
    for label, value in lines:
        draw.text((340, y), label, font=small, fill=(60, 40, 90))
        draw.text((400, y - 6), value, font=body, fill=(20, 20, 30))
        y += 58
    draw.text((340, y), "9.", font=small, fill=(60, 40, 90))
    draw.text((400, y - 6), " ".join(truth.categories), font=body, fill=(20, 20, 30))
    draw.text((40, 560), "7.", font=small, fill=(60, 40, 90))
    draw.line((80, 585, 280, 570), fill=(30, 30, 80), width=3)  # the signature
    return card


def photograph(card: Image.Image, rng: random.Random, hard: bool = False) -> Image.Image:
    """The card as a phone sees it: background, angle, turn, blur, light."""
    scale = rng.uniform(0.55, 0.95)
    width, height = int(1600 * scale), int(1200 * scale)
    tone = tuple(rng.randrange(40, 200) for _ in range(3))
    background = Image.new("RGB", (width, height), tone)  # type: ignore[arg-type]
    noise = np.asarray(background, dtype=np.float32) + np.random.default_rng(
        rng.randrange(1 << 30)).normal(0, 12, (height, width, 3))
    background = Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8))
    size = (int(width * rng.uniform(0.6, 0.8)), 0)
    size = (size[0], int(size[0] * CARD[1] / CARD[0]))
    flat = card.resize(size, Image.Resampling.LANCZOS)
    x0, y0 = (width - size[0]) // 2, (height - size[1]) // 2
    skew = 0.10 if hard else 0.06
    corners = [(x0, y0), (x0 + size[0], y0), (x0 + size[0], y0 + size[1]), (x0, y0 + size[1])]
    moved = [(x + rng.uniform(-skew, skew) * size[0], y + rng.uniform(-skew, skew) * size[1])
             for x, y in corners]
    coeffs = _perspective(moved, [(0, 0), (size[0], 0), (size[0], size[1]), (0, size[1])])
    warped = flat.transform((width, height), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC)
    mask = Image.new("L", size, 255).transform((width, height), Image.Transform.PERSPECTIVE, coeffs,
                                              Image.Resampling.BICUBIC)
    background.paste(warped, (0, 0), mask)
    photo = background.rotate(rng.uniform(-4, 4), resample=Image.Resampling.BICUBIC, expand=False,
                              fillcolor=tone)  # type: ignore[arg-type]
    if hard and rng.random() < 0.5:
        photo = photo.rotate(rng.choice((90, 180, 270)), expand=True)
    photo = photo.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.4 if hard else 1.0)))
    light = np.linspace(rng.uniform(0.7, 0.95), rng.uniform(1.0, 1.15), photo.width)
    lit = np.asarray(photo, dtype=np.float32) * light[None, :, None]
    photo = Image.fromarray(np.clip(lit, 0, 255).astype(np.uint8))
    return photo


def _perspective(source: list[tuple[float, float]],
                 target: list[tuple[float, float]]) -> list[float]:
    """Pillow's PERSPECTIVE coefficients mapping output pixels `source` to input `target`."""
    rows = []
    for (x, y), (u, v) in zip(source, target, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    matrix = np.array(rows, dtype=np.float64)
    values = np.array([c for point in target for c in point], dtype=np.float64)
    return list(np.linalg.solve(matrix, values))


def jpeg(image: Image.Image, quality: int = 80) -> bytes:
    """JPEG bytes, as a phone would send them."""
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def licence_photo(seed: int, hard: bool = False) -> tuple[bytes, Truth]:
    """One photographed licence and what it says."""
    rng = random.Random(seed)
    truth = random_truth(rng)
    return jpeg(photograph(render_card(truth), rng, hard), rng.randrange(60, 92)), truth


def not_a_licence(seed: int) -> bytes:
    """A receipt-like page, a blank sheet or a 'selfie' blob: things renters send by mistake."""
    rng = random.Random(seed)
    kind = seed % 3
    image = Image.new("RGB", (900, 1200), (250, 250, 245) if kind != 2 else (120, 90, 70))
    draw = ImageDraw.Draw(image)
    if kind == 0:
        font = ImageFont.truetype(FONT, 30)
        for i in range(18):
            price = f"CHF {rng.randrange(1, 90)}.{rng.randrange(10, 99)}"
            draw.text((60, 60 + i * 60), f"Artikel {rng.randrange(100, 999)}   {price}",
                      font=font, fill=(20, 20, 20))
    elif kind == 2:
        draw.ellipse((250, 250, 650, 800), fill=(220, 180, 150))
    return jpeg(image.filter(ImageFilter.GaussianBlur(1)))
