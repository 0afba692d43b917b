"""Greetings, goodbyes and thanks: one-step answers that keep any active flow where it was."""

from __future__ import annotations

from flows.base import Context, Flow, Turn


class SmalltalkFlow(Flow):
    """greet, goodbye, thanks."""

    name = "smalltalk"
    intents = ("greet", "goodbye", "thanks")
    KEYS = {"greet": "greet.hello", "goodbye": "goodbye.bye", "thanks": "thanks.welcome"}

    def start(self, ctx: Context, turn: Turn) -> None:
        """Answer in kind."""
        ctx.say(self.KEYS[turn.intent], tenant=ctx.tenant.name)
