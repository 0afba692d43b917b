"""Synthetic renter messages for the benchmarks, in the four languages."""

from __future__ import annotations

import random

TEMPLATES = [
    "Grüezi, wo ist meine Buchung?", "wann kann ich das Auto abholen", "hilfe", "danke",
    "bonjour, où est ma réservation ?", "je voudrais prolonger jusqu'au {d}.03.2027",
    "ciao, dov'è la mia prenotazione?", "quanto è la cauzione?", "where is my booking",
    "when do I return the car?", "can I pay with twint", "what does the insurance cover",
    "asdf qwer", "ok", "merci vilmal", "wie hoch ist die Kaution", "STOP", "START",
]


def renter_messages(n: int, seed: int = 7) -> list[str]:
    """n messages drawn from chat-like templates (fixed seed: the same list every run)."""
    rng = random.Random(seed)
    return [rng.choice(TEMPLATES).format(d=rng.randint(15, 28)) for _ in range(n)]
