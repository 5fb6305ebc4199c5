"""Fair-housing denylist: protected characteristics never become model features.

The US Fair Housing Act (and most state and EU equivalents) forbids treating
people differently because of race, colour, religion, sex (including gender
identity and sexual orientation), disability, familial status or national
origin. A lead-scoring model that *uses* such a column, or an obvious proxy
for it (a name, a salutation, a mother tongue), would rank people by those
characteristics, so the feature builder drops every matching column before it
looks at the data and reports each drop with its reason.

Matching works on the *tokens* of a column name (lower-cased, split on
non-alphanumerics and camelCase), so ``Middlesex`` or ``page_views`` are not
caught by ``sex``/``age`` while ``numChildren``, ``Marital Status`` or
``applicant_gender`` are. The list is deliberately not configurable: there is
no override parameter anywhere in the package (``leakage_override`` and
``exclude`` cannot re-enable a protected column).

Location fields (``postcode``, ``city``, ``country``) are *not* on the list:
they describe where the buyer is searching or lives and are part of the data
contract. Free-text columns only ever yield length/keyword features whose
keywords are business terms (see ``features.tabular``), never protected words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["PROTECTED_RULES", "protected_reason", "split_protected", "tokens"]

# (set of tokens that must all appear in the name, reason). Single-token
# entries match anywhere in the name; multi-token entries need every token.
PROTECTED_RULES: tuple[tuple[frozenset[str], str], ...] = tuple(
    (frozenset(toks.split()), reason)
    for toks, reason in [
        # race / colour / ethnicity
        ("race", "race"),
        ("racial", "race"),
        ("ethnic", "ethnicity / national origin"),
        ("ethnicity", "ethnicity / national origin"),
        ("skin", "colour"),
        ("complexion", "colour"),
        ("colour", "colour"),
        ("color", "colour"),
        # religion
        ("religion", "religion"),
        ("religious", "religion"),
        ("faith", "religion"),
        ("denomination", "religion"),
        ("caste", "religion / origin"),
        # sex, gender, orientation
        ("sex", "sex"),
        ("gender", "sex / gender identity"),
        ("pronoun", "sex / gender identity"),
        ("pronouns", "sex / gender identity"),
        ("salutation", "sex / marital status (salutation)"),
        ("honorific", "sex / marital status (salutation)"),
        ("orientation", "sexual orientation"),
        ("lgbt", "sexual orientation"),
        ("lgbtq", "sexual orientation"),
        # disability
        ("disability", "disability"),
        ("disabilities", "disability"),
        ("disabled", "disability"),
        ("handicap", "disability"),
        ("handicapped", "disability"),
        ("wheelchair", "disability"),
        ("impairment", "disability"),
        ("accessibility needs", "disability"),
        ("medical", "disability (health)"),
        ("health condition", "disability (health)"),
        # familial status / marital status
        ("familial", "familial status"),
        ("family status", "familial status"),
        ("household composition", "familial status"),
        ("children", "familial status"),
        ("child", "familial status"),
        ("kids", "familial status"),
        ("kid", "familial status"),
        ("dependents", "familial status"),
        ("dependants", "familial status"),
        ("pregnant", "familial status"),
        ("pregnancy", "familial status"),
        ("marital", "marital / familial status"),
        ("married", "marital / familial status"),
        ("spouse", "marital / familial status"),
        ("partner status", "marital / familial status"),
        # national origin, nationality, language as origin
        ("nationality", "national origin"),
        ("national origin", "national origin"),
        ("citizenship", "national origin"),
        ("citizen", "national origin"),
        ("immigration", "national origin"),
        ("immigrant", "national origin"),
        ("birthplace", "national origin"),
        ("country birth", "national origin"),
        ("birth country", "national origin"),
        ("origin country", "national origin"),
        ("country origin", "national origin"),
        ("ancestry", "national origin"),
        ("tribe", "national origin"),
        ("language", "national origin (language)"),
        ("tongue", "national origin (language)"),
        ("dialect", "national origin (language)"),
        # age (protected in many state laws and under credit rules)
        ("age", "age"),
        ("dob", "age"),
        ("birthdate", "age"),
        ("birthday", "age"),
        ("birth date", "age"),
        ("date birth", "age"),
        ("year birth", "age"),
        # personal names are strong proxies for sex and origin
        ("first name", "personal name (proxy for sex / origin)"),
        ("last name", "personal name (proxy for sex / origin)"),
        ("full name", "personal name (proxy for sex / origin)"),
        ("given name", "personal name (proxy for sex / origin)"),
        ("family name", "personal name (proxy for sex / origin)"),
        ("middle name", "personal name (proxy for sex / origin)"),
        ("maiden name", "personal name (proxy for sex / origin)"),
        ("surname", "personal name (proxy for sex / origin)"),
        ("firstname", "personal name (proxy for sex / origin)"),
        ("lastname", "personal name (proxy for sex / origin)"),
        ("fullname", "personal name (proxy for sex / origin)"),
        ("photo", "photograph (proxy for race / sex)"),
        ("photograph", "photograph (proxy for race / sex)"),
        ("selfie", "photograph (proxy for race / sex)"),
        ("veteran", "military status"),
    ]
)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^a-z0-9]+")


def tokens(column: str) -> frozenset[str]:
    """Lower-case word tokens of a column name (``numChildren`` → {num, children})."""
    spaced = _CAMEL.sub(" ", str(column))
    return frozenset(t for t in _SPLIT.split(spaced.lower()) if t)


def protected_reason(column: str) -> str | None:
    """Why ``column`` is protected, or None if it may be used as a feature."""
    toks = tokens(column)
    for needed, reason in PROTECTED_RULES:
        if needed <= toks:
            return f"protected characteristic: {reason}"
    return None


def split_protected(columns: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """Split column names into (allowed, {excluded name: reason})."""
    allowed: list[str] = []
    excluded: dict[str, str] = {}
    for col in columns:
        reason = protected_reason(col)
        if reason is None:
            allowed.append(col)
        else:
            excluded[col] = reason
    return allowed, excluded
