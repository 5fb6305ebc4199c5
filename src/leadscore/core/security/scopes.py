"""API-key scopes and what each one allows.

=========  ======================================================  ===========================
scope      allows                                                   implies
=========  ======================================================  ===========================
``read``   GET on every resource (leads, scores, models, usage)     —
``write``  create, update and delete resources; imports; training   ``read``
``score``  stateless scoring only (score a lead sent in the body);  —
           no access to stored data, so it can sit in a web form
``admin``  key management, other keys' usage, everything above      ``read``, ``write``, ``score``
=========  ======================================================  ===========================

A router states the *least* scope an operation needs (``require_scope("read")``);
a key passes when its granted scopes, expanded through ``implies``, contain it.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    SCORE = "score"
    ADMIN = "admin"


IMPLIES: dict[Scope, frozenset[Scope]] = {
    Scope.READ: frozenset({Scope.READ}),
    Scope.WRITE: frozenset({Scope.WRITE, Scope.READ}),
    Scope.SCORE: frozenset({Scope.SCORE}),
    Scope.ADMIN: frozenset(Scope),
}

SCOPE_NAMES = tuple(s.value for s in Scope)


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Validate scope names; the error names every bad one and the allowed set."""
    values = [v.strip().lower() for v in values]
    bad = [v for v in values if v not in SCOPE_NAMES]
    if bad:
        raise ValueError(f"unknown scope {', '.join(map(repr, bad))}; use {', '.join(SCOPE_NAMES)}")
    if not values:
        raise ValueError(f"at least one scope is needed ({', '.join(SCOPE_NAMES)})")
    # Keep the order given, drop repeats.
    return [Scope(v) for v in dict.fromkeys(values)]


def effective(granted: Iterable[str]) -> frozenset[Scope]:
    """Everything a key with ``granted`` scopes may do; unknown stored names grant nothing."""
    result: set[Scope] = set()
    for name in granted:
        if name in SCOPE_NAMES:
            result |= IMPLIES[Scope(name)]
    return frozenset(result)
