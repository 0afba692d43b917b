"""The one place that picks a conversation's language."""

from __future__ import annotations

import re

from bot.i18n import ALL_LANGUAGES
from bot.models import Conversation

SWITCH_MIN_WORDS = 4


def choose_language(conv: Conversation, detected: str | None, text: str, hint: str | None,
                    tenant_default: str) -> str:
    """The renter's choice, then what they write, then the channel's hint, then the tenant's default.

    The language is sticky: a single foreign word does not switch it, a whole sentence does;
    a language the renter chose explicitly only changes when they choose again.
    """
    detected = detected if detected in ALL_LANGUAGES else None
    hint = hint[:2].lower() if hint and hint[:2].lower() in ALL_LANGUAGES else None
    if conv.language is None:
        conv.language, conv.language_source = (
            (detected, "detected") if detected else (hint, "hint") if hint
            else (tenant_default, "tenant"))
    elif conv.language_source == "chosen":
        pass
    elif detected and detected != conv.language:
        words = len(re.findall(r"\w+", text))
        if conv.language_source in ("tenant", "hint") or words >= SWITCH_MIN_WORDS:
            conv.language, conv.language_source = detected, "detected"
    return conv.language
