"""Help: what the bot can do, in the renter's language."""

from __future__ import annotations

from flows.base import Context, Flow, Turn


class HelpFlow(Flow):
    """The menu of what the bot does."""

    name = "help"
    intents = ("help",)

    def start(self, ctx: Context, turn: Turn) -> None:
        """Show the help menu."""
        ctx.say("help.menu")
