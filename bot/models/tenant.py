"""Tenants: the rental companies sharing one deployment."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.models.base import Base, EncryptedText, utcnow

DEFAULT_SETTINGS: dict[str, Any] = {
    "min_renter_age": 21,
    "allow_dob_identification": True,
    "timezone": "Europe/Zurich",
    "opening_hours": {"mon-fri": "07:30-18:30", "sat": "08:00-12:00"},
    "quiet_hours": ["21:00", "08:00"],
    "holidays_quiet": False,  # public holidays of the canton count as quiet for reminders
    "canton": None,  # e.g. "ZH": its holidays with the national ones
    "late_return_fee_chf": 30,
    "qr_payment_days": 10,  # a QR-bill is due this many days after it is sent
    "qr_reminder_days": [3, 10, 20],  # first, second, final reminder: days after the due date
    "qr_late_fee_chf": 20,  # named in the second and final reminder
    "address": "",
    "phone": "",
    "deposit_text": {},
    "insurance_text": {},
}


class Tenant(Base):
    """A rental company, with its numbers, bot, staff group and rules."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    default_language: Mapped[str] = mapped_column(String(5), default="de")
    sms_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    whatsapp_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    telegram_bot_token: Mapped[str | None] = mapped_column(EncryptedText)
    telegram_webhook_secret: Mapped[str | None] = mapped_column(String(256))
    staff_chat_id: Mapped[str | None] = mapped_column(String(64))
    api_key_hash: Mapped[str | None] = mapped_column(String(128), index=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def zone(self) -> ZoneInfo:
        """The tenant's time zone (Europe/Zurich unless set)."""
        return ZoneInfo(self.setting("timezone") or "Europe/Zurich")

    def setting(self, name: str) -> Any:
        """A per-tenant setting, falling back to the product default."""
        return (self.settings or {}).get(name, DEFAULT_SETTINGS.get(name))
