"""Message catalogs (Babel gettext) and Swiss formats for dates, times and CHF."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date as _fmt_date
from babel.dates import format_datetime as _fmt_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent.parent / "templates" / "locale"
LANGUAGES = ("de", "fr", "it", "en")
ALL_LANGUAGES = LANGUAGES + ("rm",)
LANGUAGE_NAMES = {"de": "Deutsch", "fr": "Français", "it": "Italiano", "en": "English",
                  "rm": "Rumantsch"}
FALLBACK = {"rm": "de"}
ZURICH = ZoneInfo("Europe/Zurich")
WHEN_PATTERNS = {"de": "EEEE, d. MMMM y, HH:mm", "fr": "EEEE d MMMM y, HH:mm",
                 "it": "EEEE d MMMM y, HH:mm", "en": "EEEE, d MMMM y, HH:mm",
                 "rm": "EEEE, d. MMMM y, HH:mm"}


def locale_of(language: str) -> str:
    """The Babel locale for a conversation language (Swiss variants)."""
    return f"{language if language in ALL_LANGUAGES else 'de'}_CH"


def read_catalog(language: str):  # type: ignore[no-untyped-def]
    """The parsed .po catalog of one language."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        return read_po(fh, locale=language)


@lru_cache(maxsize=None)
def translations(language: str) -> Translations:
    """Compiled translations of a language, with its fallback chain (rm falls back to de)."""
    buf = io.BytesIO()
    write_mo(buf, read_catalog(language))
    buf.seek(0)
    trans = Translations(buf)
    if language in FALLBACK:
        trans.add_fallback(translations(FALLBACK[language]))
    return trans


def has_message(key: str, language: str) -> bool:
    """True when the key has a translation in this language (or its fallback)."""
    return translations(language).gettext(key) != key


def translate(key: str, language: str, **params: Any) -> str:
    """The text of a message key in a language, with parameters filled in."""
    language = language if language in ALL_LANGUAGES else "de"
    text = translations(language).gettext(key)
    if text == key and language != "en":
        text = translations("en").gettext(key)
    return text % params if params else text.replace("%%", "%")


def format_money(amount: Decimal | float | int, language: str) -> str:
    """CHF in the Swiss format of the language: `CHF 1’234.50` in de_CH."""
    return _money(Decimal(str(amount)), language)


@lru_cache(maxsize=8192)
def _money(amount: Decimal, language: str) -> str:
    locale = locale_of("de" if language == "rm" else language)
    text = format_currency(amount, "CHF", locale=locale)
    # Swiss typography groups thousands with a typographic apostrophe (CLDR now has ASCII).
    return text.replace("'", "\u2019").replace("\xa0", " ")


@lru_cache(maxsize=8192)
def format_when(moment: datetime, language: str, tz: str = "Europe/Zurich") -> str:
    """Date and time in the tenant's time zone, formatted for the language."""
    local = moment.astimezone(ZoneInfo(tz))
    return _fmt_datetime(local, WHEN_PATTERNS.get(language, WHEN_PATTERNS["en"]),
                         locale=locale_of(language))


def format_day(day: date, language: str) -> str:
    """A date, formatted for the language (12.03.2027 in de_CH)."""
    return _fmt_date(day, "medium", locale=locale_of(language))
