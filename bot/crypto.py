"""Encryption of personal data at rest and keyed hashes for look-ups.

New values are sealed with AES-256-GCM (a key derived from CRMS_DATA_KEY, a random 96-bit
nonce each): one call into OpenSSL, where Fernet's AES-CBC plus HMAC took 20 µs of Python per
value, several times on every message. Values written as Fernet tokens by earlier versions
are still read.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_fernet: Fernet | None = None
_aead: AESGCM | None = None
_hash_key: bytes = b""
SEALED = b"\x01"  # first byte of an AES-GCM value; a Fernet token starts with "g"


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
    global _fernet, _aead, _hash_key
    forget()
    _fernet = Fernet(key.encode())
    _aead = AESGCM(hashlib.sha256(b"crms-aead:" + key.encode()).digest())
    _hash_key = hashlib.sha256(b"crms-lookup:" + key.encode()).digest()


def _cipher() -> Fernet:
    if _fernet is None:
        raise RuntimeError("data key not configured: call bot.crypto.configure() first")
    return _fernet


def _sealer() -> AESGCM:
    if _aead is None:
        raise RuntimeError("data key not configured: call bot.crypto.configure() first")
    return _aead


def encrypt(data: bytes) -> bytes:
    """Encrypt bytes with the data key: version byte, nonce, ciphertext and tag."""
    nonce = os.urandom(12)
    return SEALED + nonce + _sealer().encrypt(nonce, data, SEALED)


def decrypt(token: bytes) -> bytes:
    """Decrypt bytes written by `encrypt` (or a Fernet token of an earlier version).

    Raises ValueError on a wrong key or tampering.
    """
    try:
        if token[:1] == SEALED:
            return _sealer().decrypt(token[1:13], token[13:], SEALED)
        return _cipher().decrypt(token)
    except (InvalidToken, InvalidTag) as exc:
        raise ValueError("cannot decrypt: wrong CRMS_DATA_KEY or tampered data") from exc


@functools.lru_cache(maxsize=4096)
def decrypt_text(token: bytes) -> str:
    """A short encrypted text (address, message body): the hot path reads the same ones again.

    A sealed value (random nonce) or Fernet token is never written twice, so a cached one
    always means the same text; `forget` empties the cache when personal data is erased.
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
