"""Password hashing with the standard library's scrypt.

Unlike API keys (random, so a fast keyed hash is enough), passwords are
guessable: a slow, memory-hard KDF makes each guess against a stolen hash
expensive. Parameters are stored with the hash so they can be raised later
without breaking existing logins.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# n=2**14, r=8 uses 16 MiB and ~50 ms per check: slow for an attacker, fine for a login.
N, R, P = 2**14, 8, 1
MIN_LENGTH = 10
MAX_LENGTH = 1024  # scrypt time grows with input; refuse megabyte "passwords"


class WeakPassword(ValueError):
    pass


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password is too short: use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password is too long: at most {MAX_LENGTH} characters")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, maxmem=64 * 1024 * 1024, dklen=32)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    if len(password) > MAX_LENGTH:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                maxmem=64 * 1024 * 1024, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# Checked against when the e-mail is unknown, so a wrong e-mail takes as long as a wrong password.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
