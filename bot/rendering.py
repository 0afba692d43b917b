"""Reply key + parameters + language + channel capabilities -> text, buttons or numbered menu."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.channels.base import CAPABILITIES
from bot.i18n import format_money, translate
from bot.messages import Button, MsgKey, Reply
from bot.sms import gsm_friendly


@dataclass(frozen=True)
class Rendered:
    """A reply as one channel shows it; `menu` maps typed numbers back to button payloads."""

    text: str
    buttons: tuple[Button, ...] = ()
    menu: dict[str, str] = field(default_factory=dict)
    location: tuple[float, float] | None = None


def label(key: str, language: str) -> str:
    """A button label: a message key, or a literal after `!` (language names)."""
    return key[1:] if key.startswith("!") else translate(key, language)


def render_params(params: dict[str, Any], language: str) -> dict[str, Any]:
    """Parameters with nested message keys translated and CHF amounts (Decimal) formatted."""
    def one(value: Any) -> Any:
        if isinstance(value, MsgKey):
            return translate(value, language)
        if isinstance(value, Decimal):
            return format_money(value, language)
        return value
    return {k: one(v) for k, v in params.items()}


def render(reply: Reply, language: str, channel: str) -> Rendered:
    """Render a reply for a channel; buttons degrade to a numbered menu where unsupported."""
    caps = CAPABILITIES.get(channel, CAPABILITIES["sms"])
    text = translate(reply.key, language, **render_params(reply.params, language))
    buttons = tuple(Button(label(k, language), payload) for k, payload in reply.buttons)
    menu: dict[str, str] = {}
    if buttons and (not caps.buttons or len(buttons) > caps.max_buttons):
        lines = [f"{i}) {b.title}" for i, b in enumerate(buttons, 1)]
        text = f"{text}\n\n" + "\n".join(lines) + "\n" + translate("menu.reply_with_number", language)
        menu = {str(i): b.payload for i, b in enumerate(buttons, 1)}
        buttons = ()
    if channel == "sms":
        text = gsm_friendly(text)  # the engine splits what is over the limit
    elif len(text) > caps.max_length:
        text = text[: caps.max_length - 1] + "…"
    return Rendered(text, buttons, menu, reply.location if caps.location else None)
