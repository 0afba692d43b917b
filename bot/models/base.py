"""Declarative base and column types shared by all models."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime, LargeBinary, MetaData, String, TypeDecorator
from sqlalchemy.orm import DeclarativeBase

from bot import crypto

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, always returns aware datetimes (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Aware datetime in, naive UTC to the database."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC datetimes")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Naive UTC from the database, aware datetime out."""
        return None if value is None else value.replace(tzinfo=timezone.utc)


class EncryptedText(TypeDecorator[str]):
    """A text column encrypted at rest with the data key."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> bytes | None:
        """Encrypt on the way in."""
        return None if value is None else crypto.encrypt(value.encode())

    def process_result_value(self, value: bytes | None, dialect: Any) -> str | None:
        """Decrypt on the way out."""
        return None if value is None else crypto.decrypt_text(bytes(value))


class EncryptedBytes(TypeDecorator[bytes]):
    """A binary column (licence images) encrypted at rest."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Any) -> bytes | None:
        """Encrypt on the way in."""
        return None if value is None else crypto.encrypt(value)

    def process_result_value(self, value: bytes | None, dialect: Any) -> bytes | None:
        """Decrypt on the way out."""
        return None if value is None else crypto.decrypt(bytes(value))


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON column encrypted at rest.

    Message and outbox payloads carry the reply's text (names, booking details, what a
    licence says), as the message body does.
    """

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> bytes | None:
        """Serialise, then encrypt."""
        if value is None:
            return None
        return crypto.encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())

    def process_result_value(self, value: bytes | None, dialect: Any) -> Any:
        """Decrypt, then parse."""
        return None if value is None else json.loads(crypto.decrypt(bytes(value)))


class Base(DeclarativeBase):
    """Base of every mapped class."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), str: String(255)}
