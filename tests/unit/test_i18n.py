"""Every message in every language, with the same placeholders; Swiss formats."""

import re
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from bot.i18n import LANGUAGES, format_day, format_money, format_when, read_catalog, translate

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
KEY = r'"([a-z_]+\.[a-z_0-9]+)"'
KEY_IN_CODE = re.compile("|".join([
    rf"(?:say|Reply|notify_staff|MsgKey|translate)\(\s*{KEY}",  # direct uses
    rf"\(({KEY[1:-1]}), \"/",  # buttons: ("button.yes", "/yes")
    rf":\s*{KEY}",  # key maps
    rf"(?:else|key =)\s*{KEY}",  # chosen by a condition
]))


def catalog(language: str) -> dict[str, str]:
    return {m.id: m.string for m in read_catalog(language) if m.id}


def keys_used_in_code() -> set[str]:
    prefixes = {k.split(".")[0] for k in catalog("en")}
    found = set()
    for folder in ("bot", "flows", "handlers"):
        for path in (ROOT / folder).rglob("*.py"):
            source = "\n".join(line for line in path.read_text().splitlines()
                                if "action=" not in line and "audit(" not in line)
            for groups in KEY_IN_CODE.findall(source):
                found.update(k for k in groups if k and k.split(".")[0] in prefixes)
    for path in (ROOT / "flows").rglob("*.py"):  # keys built with f-strings
        for prefix in re.findall(r'f"((?:status|reason|reminder)\.)\{', path.read_text()):
            found.update(k for k in catalog("en") if k.startswith(prefix))
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated(language):
    messages = catalog(language)
    missing = sorted(k for k in catalog("en") if not messages.get(k, "").strip())
    assert missing == [], f"{language} lacks {missing}"


def test_every_key_used_in_the_code_exists():
    assert keys_used_in_code() - set(catalog("en")) == set()
    assert len(keys_used_in_code()) > 40


@pytest.mark.parametrize("language", LANGUAGES + ("rm",))
def test_placeholders_match_english(language):
    english = catalog("en")
    for key, text in catalog(language).items():
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(english[key])), key


def test_romansh_has_the_greetings_and_main_texts_and_falls_back_to_german():
    romansh = catalog("rm")
    for key in ("greet.hello", "goodbye.bye", "thanks.welcome", "identify.ask_ref",
                "booking.status", "pickup.info", "optout.confirmed"):
        assert key in romansh
    assert translate("privacy.kept", "rm") == translate("privacy.kept", "de")


def test_chf_in_swiss_formats():
    assert format_money(Decimal("1234.5"), "de") == "CHF 1’234.50"
    assert format_money(Decimal("1234.5"), "it") == "CHF 1’234.50"
    assert format_money(Decimal("1234.5"), "en") == "CHF 1’234.50"
    assert format_money(Decimal("1234.5"), "fr") == "1’234,50 CHF"


def test_dates_and_times_in_zurich_time_per_language():
    moment = datetime(2027, 7, 1, 6, 30, tzinfo=timezone.utc)  # 08:30 summer time
    assert format_when(moment, "de") == "Donnerstag, 1. Juli 2027, 08:30"
    assert format_when(moment, "fr") == "jeudi 1 juillet 2027, 08:30"
    assert format_when(moment, "it") == "giovedì 1 luglio 2027, 08:30"
    assert format_when(moment, "en") == "Thursday, 1 July 2027, 08:30"
    assert format_day(date(2027, 3, 12), "de") == "12.03.2027"
