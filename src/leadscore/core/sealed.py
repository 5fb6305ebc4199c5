"""Secrets the server must read back (webhook signing secrets), encrypted at rest.

Why: a Standard Webhooks secret signs every delivery, so it cannot be hashed like an API key;
stored in clear, a copy of the database (a backup, a replica, a dump handed to support) would
let anyone sign messages a receiver trusts. Columns of type ``SealedString`` hold
``fernet:<token>``: Fernet (``cryptography``: AES-128-CBC with HMAC-SHA256) under a key derived
from the installation's pepper (``LEADSCORE_KEY_PEPPER`` or ``LEADSCORE_HOME/key_pepper``, as
for API keys), so the database alone is not enough. Changing the pepper makes the sealed
secrets unreadable (reading one then fails with a message saying so), as it invalidates API keys.

The key belongs to an engine (``core.database.make_engine`` attaches a box to its dialect,
where the column type finds it), not to a module global: every engine, and every test
database, carries its own. Values written before sealing existed are read as they are
(clear text does not start with ``fernet:``) and sealed the next time they are written.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import String
from sqlalchemy.types import TypeDecorator

from leadscore.core.errors import LeadscoreError

PREFIX = "fernet:"
_DIALECT_ATTRIBUTE = "leadscore_secret_box"
_KEY_INFO = b"leadscore-sealed-secrets-v1"  # domain separation from the other uses of the pepper


class UnsealError(LeadscoreError):
    pass


class SecretBox:
    """Seals and opens strings with a key derived from the pepper (read on first use)."""

    def __init__(self, pepper: Callable[[], bytes]) -> None:
        self._pepper = pepper
        self._fernet: Any = None
        self._lock = threading.Lock()

    def _cipher(self) -> Any:
        with self._lock:
            if self._fernet is None:
                from cryptography.fernet import Fernet

                key = hmac.new(self._pepper(), _KEY_INFO, hashlib.sha256).digest()
                self._fernet = Fernet(base64.urlsafe_b64encode(key))
            return self._fernet

    def seal(self, plain: str) -> str:
        return PREFIX + self._cipher().encrypt(plain.encode()).decode("ascii")

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before sealing existed
        from cryptography.fernet import InvalidToken

        try:
            return self._cipher().decrypt(stored[len(PREFIX):].encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise UnsealError(
                "a sealed secret cannot be decrypted with this installation's key: LEADSCORE_KEY_PEPPER (or "
                "LEADSCORE_HOME/key_pepper) differs from the one it was sealed with; restore it, or rotate the "
                "webhook's secret") from None


def attach_box(engine: Any, box: SecretBox) -> None:
    setattr(engine.dialect, _DIALECT_ATTRIBUTE, box)


def _box(dialect: Any) -> SecretBox:
    box = getattr(dialect, _DIALECT_ATTRIBUTE, None)
    if box is None:  # never fall back to clear text
        raise RuntimeError("this engine has no secret box: create it with leadscore.core.database.make_engine")
    return box


class SealedString(TypeDecorator[str]):
    """A string stored sealed (``fernet:`` + token); Python code sees the clear value."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else _box(dialect).seal(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else _box(dialect).open(value)
