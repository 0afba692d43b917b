"""Text as the models see it: lower case, with references, dates, plates and numbers replaced."""

from __future__ import annotations

import re

from nlu.entities import BOOKING_REF, NUMERIC_DATE, PLATE

EMOJI = re.compile("[\U0001F300-\U0001FAFF\u2600-\u27BF]")


def normalise(text: str) -> str:
    """Lower case, with references, dates, plates and numbers replaced by placeholders."""
    text = BOOKING_REF.sub(" bookingref ", text)
    text = PLATE.sub(" plate ", text)
    text = NUMERIC_DATE.sub(" datum ", text)
    text = re.sub(r"\d+", " 0 ", text)
    text = EMOJI.sub(lambda m: f" emoji{ord(m.group(0)):x} ", text)
    return re.sub(r"\s+", " ", text.lower()).strip()
