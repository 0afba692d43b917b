"""Logging with personal data masked: phone numbers, e-mail addresses."""

from __future__ import annotations

import logging
import re

PHONE = re.compile(r"(?<![\w])(\+|00)(\d[\d \-]{6,16}\d)")
EMAIL = re.compile(r"([\w.+-])[\w.+-]*@([\w-]+\.[\w.-]+)")


def mask_phone(match: re.Match[str]) -> str:
    """Keep the country prefix and the last two digits."""
    digits = re.sub(r"\D", "", match.group(2))
    return f"{match.group(1)}{digits[:2]}{'*' * max(0, len(digits) - 4)}{digits[-2:]}"


def mask(text: str) -> str:
    """The text with phone numbers and e-mails masked."""
    text = PHONE.sub(mask_phone, text)
    return EMAIL.sub(r"\1***@\2", text)


def mask_name(name: str | None) -> str:
    """A name reduced to initials, for log lines."""
    if not name:
        return "-"
    return " ".join(part[0] + "." for part in name.split() if part)


class MaskingFilter(logging.Filter):
    """Masks personal data in every record before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the message with its arguments applied and masked."""
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not drop the record
            message = str(record.msg)
        record.msg = mask(message)
        record.args = None
        return True


def configure_logging(level: int = logging.INFO) -> None:
    """Root logging with the masking filter on every handler."""
    root = logging.getLogger()
    if not root.handlers:
        handler: logging.Handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    # The twilio library logs every request's headers at INFO: noise, and slow at volume.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    for handler in root.handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
