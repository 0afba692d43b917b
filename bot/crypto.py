"""Encryption of personal data at rest (Fernet) and keyed hashes for look-ups."""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

_fernet: Fernet | None = None
_hash_key: bytes = b""


def load_or_create_key(configured: str | None, var_dir: Path) -> str:
    """Return the data key: the configured one, else the one in var/, created on first run."""
    if configured:
        return configured
    path = var_dir / "data.key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def configure(key: str) -> None:
    """Install the process-wide data key."""
    global _fernet, _hash_key
    forget()
    _fernet = Fernet(key.encode())
    _hash_key = hashlib.sha256(b"crms-lookup:" + key.encode()).digest()


def _cipher() -> Fernet:
    if _fernet is None:
        raise RuntimeError("data key not configured: call bot.crypto.configure() first")
    return _fernet


def encrypt(data: bytes) -> bytes:
    """Encrypt bytes with the data key."""
    return _cipher().encrypt(data)


def decrypt(token: bytes) -> bytes:
    """Decrypt bytes written by `encrypt`; raises ValueError on a wrong key or tampering."""
    try:
        return _cipher().decrypt(token)
    except InvalidToken as exc:
        raise ValueError("cannot decrypt: wrong CRMS_DATA_KEY or tampered data") from exc


@functools.lru_cache(maxsize=4096)
def decrypt_text(token: bytes) -> str:
    """A short encrypted text (address, message body): the hot path reads the same ones again.

    A Fernet token is never written twice, so a cached token always means the same text;
    `forget` empties the cache when personal data is erased.
    """
    return decrypt(token).decode()


def forget() -> None:
    """Drop decrypted texts kept in memory (after an erasure, or a key change)."""
    decrypt_text.cache_clear()


def lookup_hash(value: str) -> str:
    """Keyed hash of a normalised value (phone, address) so it can be found without storing it."""
    if not _hash_key:
        raise RuntimeError("data key not configured")
    return hmac.new(_hash_key, value.strip().lower().encode(), hashlib.sha256).hexdigest()


def mac(data: bytes) -> bytes:
    """An HMAC-SHA256 of data under a key derived from the data key (signed links)."""
    if not _hash_key:
        raise RuntimeError("data key not configured")
    return hmac.new(_hash_key + b":links", data, hashlib.sha256).digest()
