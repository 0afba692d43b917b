"""SMS text: keep GSM-7 where only typography forces UCS-2, count segments, split long texts."""

from __future__ import annotations

# GSM 03.38 basic set and the extension table (extension characters count twice).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENDED = set("^{}\\[~]|€\f")
TYPOGRAPHY = {
    "\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"',
    "\u00bb": '"', "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " ", "\u202f": " ",
    "\u2009": " ", "\u2022": "-",
}
MAX_SMS_LENGTH = 1600


def gsm_friendly(text: str) -> str:
    """Replace typography that would turn the whole SMS into UCS-2 (’ “ ” – … and odd spaces)."""
    return "".join(TYPOGRAPHY.get(ch, ch) for ch in text)


def is_gsm7(text: str) -> bool:
    """Whether the text fits the GSM-7 alphabet."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def segments(text: str) -> tuple[str, int]:
    """The encoding (gsm7 or ucs2) and how many SMS segments the text takes."""
    if is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
        return "gsm7", 1 if units <= 160 else -(-units // 153)
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)  # UTF-16 code units
    return "ucs2", 1 if units <= 70 else -(-units // 67)


def split_long(text: str, limit: int = MAX_SMS_LENGTH) -> list[str]:
    """Split a text over Twilio's limit at paragraph, then line, then word boundaries."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"))
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    rest = rest.rstrip()
    return parts + ([rest] if rest else [])
