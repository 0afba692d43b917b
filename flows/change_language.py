"""Change language: switch on the renter's word, or offer the four languages as buttons."""

from __future__ import annotations

import re

from bot.i18n import LANGUAGE_NAMES
from flows.base import Context, Flow, Turn

NAMED = [
    ("de", r"deutsch|dütsch|german|allemand|tedesco|tudestg"),
    ("fr", r"fran[cç]ais|französisch|french|francese|franzos"),
    ("it", r"italien|italiano|italian|italienisch|talian"),
    ("en", r"english|englisch|anglais|inglese|englais"),
    ("rm", r"rumantsch|romansh|rätoromanisch|romanche|romancio"),
]


def named_language(text: str) -> str | None:
    """The language the renter names in the message, if any."""
    lowered = text.lower()
    for code, pattern in NAMED:
        if re.search(pattern, lowered):
            return code
    return None


class ChangeLanguageFlow(Flow):
    """Switches the conversation's language."""

    name = "change_language"
    intents = ("change_language",)

    def start(self, ctx: Context, turn: Turn) -> None:
        """Switch to the named language, or ask which one."""
        target = turn.entities.get("language") or named_language(turn.text)
        if target is None:
            ctx.goto(self.name, "awaiting_choice")
            ctx.say("language.ask", buttons=tuple(
                (f"!{LANGUAGE_NAMES[c]}", f"/lang {c}") for c in ("de", "fr", "it", "en")))
            return
        self.switch(ctx, target)

    def on_awaiting_choice(self, ctx: Context, turn: Turn) -> bool:
        """The renter picked (or named) a language."""
        target = turn.entities.get("language") or named_language(turn.text)
        if target is None:
            return False
        self.switch(ctx, target)
        return True

    def switch(self, ctx: Context, target: str) -> None:
        """Store the choice; it sticks until the renter changes it again."""
        if ctx.conversation.flow == self.name:
            ctx.finish()
        ctx.conversation.language = target
        ctx.conversation.language_source = "chosen"
        ctx.say("language.changed")
