"""Credentials: argon2 for passwords, random tokens stored as SHA-256 digests.

Passwords are low-entropy, so they get a slow, salted hash (argon2id). API keys and
session tokens are 256-bit random strings: a fast digest is as safe for them and keeps
checking a key on every SDK request cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from verdict.server.identity.models import ApiKeyKind

__all__ = [
    "API_KEY_PREFIX_LENGTH",
    "digest",
    "hash_password",
    "matches",
    "new_api_key",
    "new_session_token",
    "password_needs_rehash",
    "verify_password",
]

_hasher = PasswordHasher()
API_KEY_PREFIX_LENGTH = 14  # "vk_srv_" + 7 random characters, shown in listings
_KIND_TAG = {ApiKeyKind.ADMIN: "adm", ApiKeyKind.SERVER: "srv", ApiKeyKind.CLIENT: "cli"}


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)


def new_api_key(kind: ApiKeyKind) -> tuple[str, str]:
    """A new key and its visible prefix: ``vk_srv_Ab3dE9x...`` (shown to the user once)."""
    key = f"vk_{_KIND_TAG[kind]}_{secrets.token_urlsafe(32)}"
    return key, key[:API_KEY_PREFIX_LENGTH]


def new_session_token() -> str:
    return f"vt_{secrets.token_urlsafe(32)}"
