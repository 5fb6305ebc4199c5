"""``str.format`` over whole arrays: the strings ``format`` gives, computed once per distinct value.

Reason sentences are rendered for up to millions of leads at once; formatting each row in Python
would dominate the batch path, while real feature columns repeat a handful of values.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable

import numpy as np

FIXED_SPEC = re.compile(r"^(\+?)(,?)\.(\d)([f%])$")
_TEMPLATE_PARTS: dict[str, tuple[str, str, str] | None] = {}


def single_value_field(template: str) -> tuple[str, str, str] | None:
    """(prefix, spec, suffix) if ``template`` is literal text around exactly one ``{value:spec}``."""
    if template in _TEMPLATE_PARTS:
        return _TEMPLATE_PARTS[template]
    result = None
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        parts = []
    if (parts and parts[0][1] == "value" and parts[0][3] is None and "{" not in (parts[0][2] or "")
            and len(parts) <= 2 and all(p[1] is None for p in parts[1:])):
        result = (parts[0][0], parts[0][2] or "", parts[1][0] if len(parts) == 2 else "")
    _TEMPLATE_PARTS[template] = result
    return result


def per_distinct(values: np.ndarray, fn: Callable[[float], str]) -> np.ndarray:
    """``[fn(v) for v in values]`` for a float array, calling ``fn`` once per distinct bit pattern
    (so -0.0 and 0.0 stay apart)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    bits, inverse = np.unique(values.view(np.int64), return_inverse=True)
    table = np.array([fn(v) for v in bits.view(np.float64).tolist()] + [""], dtype=object)[:-1]
    return table[inverse.reshape(-1)]


def format_many(values: np.ndarray, spec: str, prefix: str = "", suffix: str = "") -> np.ndarray:
    """``[prefix + format(v, spec) + suffix for v in values]`` as an object array, identical strings.

    For fixed-point specs (``[+][,].Nf`` / ``[+][,].N%``) each row is reduced to the integer it
    rounds to (``rint`` of the value scaled exactly as Python scales it; exact for N = 0) and each
    distinct integer is formatted once. Rows whose scaled value sits within 1e-9 of a rounding tie
    (where the scaling could round the other way), non-finite or huge values go through ``format``
    itself. Other specs are formatted once per distinct value.
    """
    values = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    m = FIXED_SPEC.match(spec)
    if m is None:
        return per_distinct(values, lambda v: f"{prefix}{format(v, spec)}{suffix}")
    sign, comma, prec, pct = m.group(1), m.group(2), int(m.group(3)), m.group(4) == "%"
    scaled = values * 100.0 if pct else values  # Python's '%' multiplies by 100 in floating point first
    if prec:
        scaled = scaled * float(10**prec)
    with np.errstate(invalid="ignore"):
        r = np.rint(scaled)
        ok = np.abs(r) < 1e15  # False for NaN / inf
        if prec:
            ok &= np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) > 1e-9 * np.maximum(1.0, np.abs(scaled))
    out = np.empty(len(values), dtype=object)
    if ok.any():
        rk = r[ok]
        key = rk.astype(np.int64) * 2 + ((rk == 0) & np.signbit(rk))  # Python prints '-0' for small negatives
        uniq, inverse = np.unique(key, return_inverse=True)
        fixed = f"{sign}{comma}.{prec}f"
        end = ("%" if pct else "") + suffix
        div = float(10**prec)
        table = [f"{prefix}{format(-0.0 if k == 1 else (k >> 1) / div, fixed)}{end}" for k in uniq.tolist()]
        out[ok] = np.array(table + [""], dtype=object)[:-1][inverse.reshape(-1)]
    if not ok.all():
        out[~ok] = [f"{prefix}{format(v, spec)}{suffix}" for v in values[~ok].tolist()]
    return out

