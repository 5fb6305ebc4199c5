"""API keys: generation, hashing and the service functions behind the API and CLI.

Format: ``ls_<prefix>_<secret>``. The 12-hex-digit prefix is public (stored,
indexed, shown in listings, used as the rate-limit identity); the 40-character
base62 secret (~238 bits) is shown once and never stored.

Hash: HMAC-SHA256 keyed with a server-side pepper over the whole key. A slow
KDF (scrypt, argon2) protects *guessable* passwords; these secrets are random
and far beyond brute force, so a slow hash would only add tens of milliseconds
to every cache miss and hand an attacker a cheap way to burn our CPU. The
pepper means a stolen database alone is not enough to test candidate keys.
Hashes are compared with ``hmac.compare_digest``.

Pepper: ``LEADSCORE_KEY_PEPPER`` when set; otherwise 32 random bytes written
once to ``LEADSCORE_HOME/key_pepper`` (mode 0600). Several machines sharing
one database must set the variable to the same value, or keys made on one
machine will not validate on another. Changing the pepper invalidates every key.

Services take the session first and only ``flush``; the caller commits.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import string
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadscore.core import audit
from leadscore.core.config import ConfigError, Settings, check_rate_limit
from leadscore.core.database import utcnow
from leadscore.core.problems import NotFound, Problem
from leadscore.core.security.models import ApiKey
from leadscore.core.security.scopes import Scope, parse_scopes

KEY_PREFIX = "ls"
PREFIX_HEX_DIGITS = 12
SECRET_LENGTH = 40
_ALPHABET = string.ascii_letters + string.digits
# Longest well-formed key; anything longer is refused before hashing.
MAX_KEY_LENGTH = len(KEY_PREFIX) + 2 + PREFIX_HEX_DIGITS + SECRET_LENGTH

_peppers: dict[Path, bytes] = {}
_pepper_lock = threading.Lock()


def resolve_pepper(settings: Settings) -> bytes:
    """The installation's pepper (see the module docstring); cached per home directory."""
    if settings.key_pepper is not None:
        return settings.key_pepper.get_secret_value().encode()
    path = settings.home / "key_pepper"
    with _pepper_lock:
        if path in _peppers:
            return _peppers[path]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pepper = path.read_text().strip().encode()
            else:
                pepper = secrets.token_hex(32).encode()
                with os.fdopen(fd, "w") as handle:
                    handle.write(pepper.decode() + "\n")
        except OSError as exc:
            raise ConfigError(
                f"LEADSCORE_KEY_PEPPER is unset and {path} cannot be used ({exc.strerror or exc}); "
                "set LEADSCORE_KEY_PEPPER to 16+ random characters"
            ) from None
        if len(pepper) < 16:
            raise ConfigError(
                f"{path} holds a pepper shorter than 16 characters; delete it or set LEADSCORE_KEY_PEPPER"
            )
        _peppers[path] = pepper
        return pepper


def hash_key(pepper: bytes, key: str) -> str:
    return hmac.new(pepper, key.encode(), hashlib.sha256).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh ``(prefix, full key)``."""
    prefix = secrets.token_hex(PREFIX_HEX_DIGITS // 2)
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))
    return prefix, f"{KEY_PREFIX}_{prefix}_{secret}"


def split_key(key: str) -> str | None:
    """The prefix of a well-formed key, else None (no database lookup for garbage)."""
    if len(key) != MAX_KEY_LENGTH:
        return None
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    prefix, secret = parts[1], parts[2]
    if len(prefix) != PREFIX_HEX_DIGITS or any(c not in "0123456789abcdef" for c in prefix):
        return None
    if len(secret) != SECRET_LENGTH or not secret.isascii() or not secret.isalnum():
        return None
    return prefix


class InvalidKeyRequest(Problem):
    """A bad name, scope, rate or expiry: 422 from the API, one line from the CLI."""

    def __init__(self, detail: str, field: str) -> None:
        super().__init__(422, detail, errors=[{"field": field, "message": detail, "type": "value_error"}])


@dataclass(frozen=True)
class CreatedKey:
    """A new key row plus its secret, which exists only in this object."""

    row: ApiKey
    key: str


def create_key(
    session: Session,
    settings: Settings,
    *,
    name: str,
    scopes: list[str],
    rate_limit: str | None = None,
    expires_in_days: int | None = None,
    created_by: str = "cli",
) -> CreatedKey:
    """Store a new key (hashed) and return the only copy of its secret."""
    name = name.strip()
    if not name:
        raise InvalidKeyRequest("the key needs a name", "name")
    try:
        granted = parse_scopes(scopes)
    except ValueError as exc:
        raise InvalidKeyRequest(str(exc), "scopes") from None
    if rate_limit is not None:
        try:
            rate_limit = check_rate_limit(rate_limit)
        except ValueError as exc:
            raise InvalidKeyRequest(str(exc), "rate_limit") from None
    expires_at = None
    if expires_in_days is not None:
        if not 1 <= expires_in_days <= 3650:
            raise InvalidKeyRequest("expiry must be between 1 and 3650 days", "expires_in_days")
        expires_at = utcnow() + timedelta(days=expires_in_days)
    prefix, key = new_key()
    row = ApiKey(
        prefix=prefix,
        secret_hash=hash_key(resolve_pepper(settings), key),
        name=name[:100],
        scopes=[s.value for s in granted],
        rate_limit=rate_limit,
        created_by=created_by[:100],
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    audit.record(
        session, actor=created_by, action="apikey.create", entity_type="api_key", entity_id=row.id,
        details={"name": row.name, "prefix": prefix, "scopes": row.scopes},
    )
    return CreatedKey(row=row, key=key)


def list_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def get_key(session: Session, key_id: int) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"API key {key_id} does not exist")
    return row


def revoke_key(session: Session, key_id: int, *, actor: str) -> ApiKey:
    """Mark a key revoked (idempotent; the row stays for the audit trail and usage)."""
    row = get_key(session, key_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, actor=actor, action="apikey.revoke", entity_type="api_key", entity_id=row.id)
        session.flush()
    return row


def key_status(row: ApiKey, now: datetime | None = None) -> str:
    now = now or utcnow()
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


def find_by_prefix(session: Session, prefix: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))


__all__ = [
    "CreatedKey",
    "InvalidKeyRequest",
    "Scope",
    "create_key",
    "find_by_prefix",
    "get_key",
    "hash_key",
    "key_status",
    "list_keys",
    "resolve_pepper",
    "revoke_key",
    "split_key",
]
