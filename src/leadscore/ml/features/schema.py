"""Data contract, value normalisation and plain-language feature descriptions.

Every conversion of a raw value (a pandas cell or a dict value from the online
path) goes through the scalar functions here, so the batch and single-lead
paths cannot disagree: the batch path applies them to the *unique* values of a
column and maps back, which is fast because real columns repeat a lot.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import NamedTuple

import numpy as np
import pandas as pd

from .formatting import FIXED_SPEC, format_many, per_distinct, single_value_field

NAT = np.iinfo(np.int64).min  # int64 nanoseconds sentinel, same as pandas' iNaT
_NS_MAX = np.iinfo(np.int64).max
DAY_NS = 86_400 * 10**9
HOUR_NS = 3_600 * 10**9

DEFAULT_NA_VALUES: tuple[str, ...] = (
    "", "select", "null", "none", "nan", "n/a", "na", "#n/a", "-", "--", "?", "nat",
)

ID_COLUMNS = ("lead_id",)
CREATED_AT = "created_at"

# Typed fields of the lead contract: role and a plain-language label.
LEAD_FIELDS: dict[str, tuple[str, str]] = {
    "source": ("categorical", "Lead source"),
    "channel": ("categorical", "Lead channel"),
    "intent": ("categorical", "Intent"),
    "property_type": ("categorical", "Property type"),
    "price_min": ("numeric", "Minimum budget"),
    "price_max": ("numeric", "Maximum budget"),
    "bedrooms": ("numeric", "Bedrooms wanted"),
    "postcode": ("categorical", "Postcode"),
    "city": ("categorical", "City"),
    "latitude": ("numeric", "Latitude"),
    "longitude": ("numeric", "Longitude"),
    "financing": ("categorical", "Financing"),
    "pre_approved": ("boolean", "Pre-approved for a mortgage"),
    "timeline_months": ("numeric", "Buying timeline (months)"),
    "consent_email": ("boolean", "Consented to email"),
    "consent_sms": ("boolean", "Consented to SMS"),
    "consent_phone": ("boolean", "Consented to phone calls"),
}


class Count(NamedTuple):
    """A counted phrase: ``many`` holds the ``{value:...}`` field; ``one`` and ``zero`` are the sentences
    for values shown as 1 and 0 ("Viewed 0 listings", "Viewed 1 listings" read badly to an agent);
    "" keeps ``many``."""

    many: str
    one: str
    zero: str


# A value shown as "0 days" by {value:.0f} (half to even) is anywhere in the last 12 hours: not
# necessarily today, so the sentence says only what the number does.
WITHIN_HALF_A_DAY = "within the last 12 hours"


def days_ago(subject: str) -> Count:
    """"<subject> N days ago", with its one- and zero-day sentences."""
    return Count(f"{subject} {{value:.0f}} days ago", f"{subject} 1 day ago", f"{subject} {WITHIN_HALF_A_DAY}")


_CREATED = days_ago("Lead was created")
# Hand-written sentences for the typed fields ({value} is the feature value).
FIELD_SENTENCES: dict[str, tuple[str, str]] = {
    # name: (sentence with value, sentence when missing)
    "price_min": ("Minimum budget is {value:,.0f}", "No minimum budget given"),
    "price_max": ("Maximum budget is {value:,.0f}", "No maximum budget given"),
    "bedrooms": ("Wants {value:.0f} bedrooms", "Number of bedrooms not given"),
    "timeline_months": ("Plans to buy within {value:.0f} months", "No buying timeline given"),
    "latitude": ("Searching at latitude {value:.2f}", "No search location given"),
    "longitude": ("Searching at longitude {value:.2f}", "No search location given"),
    "lead_age_days": (_CREATED.many, "Lead creation date unknown"),
    "created_dow": ("Lead arrived on a {dow}", "Lead creation day unknown"),
    "created_hour": ("Lead arrived at {value:.0f}:00 (UTC)", "Lead creation time unknown"),
}
# name: (sentence when the value shows as 0, as 1) for the counts above (see FeatureSpec.zero_template)
FIELD_COUNTS: dict[str, tuple[str, str]] = {
    "bedrooms": ("Wants a studio (no bedrooms)", "Wants 1 bedroom"),
    "timeline_months": ("Plans to buy right away", "Plans to buy within 1 month"),
    "lead_age_days": (_CREATED.zero, _CREATED.one),
}
BOOLEAN_SENTENCES: dict[str, tuple[str, str]] = {
    "pre_approved": ("Pre-approved for a mortgage", "Not pre-approved for a mortgage"),
    "consent_email": ("Agreed to be contacted by email", "Did not agree to email contact"),
    "consent_sms": ("Agreed to be contacted by SMS", "Did not agree to SMS contact"),
    "consent_phone": ("Agreed to be contacted by phone", "Did not agree to phone contact"),
}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_TRUE = {"true", "yes", "y", "t", "1", "1.0"}
_FALSE = {"false", "no", "n", "f", "0", "0.0"}
_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class FeatureSpec:
    """What a feature is and how to say it in a sentence."""

    name: str
    kind: str  # "numeric" | "categorical" | "boolean"
    template: str  # str.format template, gets value= (and label=/dow= where relevant)
    missing: str  # sentence used when the value is NaN
    source: str = ""  # raw column it came from ("" for interaction features)
    categories: tuple[str, ...] = ()  # code -> label for categorical features
    false_template: str = ""  # sentence for boolean features equal to 0
    # Sentences used as they are when a numeric value reads as 0 or 1 in ``template`` ("Viewed no
    # listings", "Viewed 1 listing"); "" keeps ``template``. They must keep their defaults: specs
    # pickled in stored models predate them, and unpickling leaves them to the class attribute.
    zero_template: str = ""
    one_template: str = ""

    def describe(self, value: float) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return self.missing
        value = float(value)
        if self.kind == "boolean":
            return self.template if value >= 0.5 else (self.false_template or f"Not: {self.template}")
        if self.kind == "categorical":
            code = int(value)
            label = self.categories[code] if 0 <= code < len(self.categories) else "another value"
            return self.template.format(label=label, value=value)
        if self.zero_template or self.one_template:
            counted = self._zero_or_one(value)
            if counted:
                return counted
        dow = WEEKDAYS[int(value) % 7] if "{dow}" in self.template else ""
        try:
            return self.template.format(value=value, dow=dow)
        except (ValueError, IndexError, KeyError):
            return f"{self.name} = {value:g}"

    def _zero_or_one(self, value: float) -> str:
        """``zero_template`` / ``one_template`` if ``value`` shows as 0 / 1 in ``template``, else "".

        Deciding on the formatted number (not the raw value) keeps the sentence consistent with
        the rounding the template itself does: 0.4 days shows as "0", 1.5 as "2".
        """
        parts = single_value_field(self.template)
        if parts is None:
            return ""
        spec = parts[1]
        try:
            shown = format(value, spec)
        except ValueError:
            return ""
        if shown == format(0.0, spec):
            return self.zero_template
        if shown == format(1.0, spec):
            return self.one_template
        return ""

    def describe_many(self, values: np.ndarray) -> np.ndarray:
        """``describe`` of every value (object array of str), identical strings, vectorised.

        A numeric template with a single fixed-point field (``"Viewed {value:.0f} listings"``,
        ``{value:.0%}``, ``{value:,.0f}``...) is rendered once per distinct *rounded* value
        (``format_many``); anything else by ``describe`` once per distinct value.
        """
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        out = np.empty(len(values), dtype=object)
        missing = np.isnan(values)
        out[missing] = self.missing
        if missing.all():
            return out
        present = values[~missing]
        compact = single_value_field(self.template) if self.kind == "numeric" else None
        fixed = FIXED_SPEC.match(compact[1]) if compact is not None else None
        if fixed is not None:
            prefix, spec, suffix = compact
            shown = format_many(present, spec, prefix, suffix)
            # ``_zero_or_one`` picks the rows rendered like 0 or 1 (comparing a million strings would
            # double the cost): unscaled, ``rint`` rounds exactly as ``format`` does (half to even, "-0"
            # for small negatives); scaled, strings are compared only among rows near the number
            scale = 10.0 ** int(fixed.group(3)) * (100.0 if fixed.group(4) == "%" else 1.0)
            for number, sentence in ((0.0, self.zero_template), (1.0, self.one_template)):
                if not sentence:
                    continue
                if scale == 1.0:
                    hit = (np.rint(present) == number) & ~np.signbit(present)
                else:
                    near = np.flatnonzero(np.abs(present * scale - number * scale) <= 1.0)
                    hit = near[shown[near] == f"{prefix}{format(number, spec)}{suffix}"]
                shown[hit] = sentence
            out[~missing] = shown
        else:
            out[~missing] = per_distinct(present, self.describe)
        return out


@dataclass
class ColumnPlan:
    """How one raw lead column becomes features (learned in fit)."""

    column: str
    role: str  # numeric | boolean | categorical | high_cardinality | datetime | text
    label: str
    categories: list[str] = field(default_factory=list)  # categorical vocabulary
    te_map: dict[str, float] = field(default_factory=dict)  # high_cardinality target encoding
    freq_map: dict[str, float] = field(default_factory=dict)  # high_cardinality frequency
    prior: float = float("nan")
    with_hour: bool = False  # datetime: time-of-day is informative
    keywords: tuple[str, ...] = ()  # text: keyword flags kept


def label_for(column: str) -> str:
    """Human label of a column (``price_max`` → 'Maximum budget', ``Lead Source`` kept)."""
    if column in LEAD_FIELDS:
        return LEAD_FIELDS[column][1]
    text = str(column).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def safe_name(column: str) -> str:
    """Feature-name fragment: lower snake case ASCII."""
    s = re.sub(r"[^0-9a-zA-Z]+", "_", str(column)).strip("_").lower()
    return s or "col"


# ----------------------------------------------------------------- scalars
def is_missing(v: object, na_values: frozenset[str]) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    if isinstance(v, str):
        return v.strip().lower() in na_values
    if isinstance(v, np.floating):
        return bool(np.isnan(v))
    if isinstance(v, np.datetime64):
        return bool(np.isnat(v))
    return False


def to_number(v: object, na_values: frozenset[str]) -> float:
    """Float value of a cell, NaN when missing or unparsable."""
    if is_missing(v, na_values):
        return math.nan
    if isinstance(v, (bool, np.bool_)):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip().replace(",", ""))
        except ValueError:
            return math.nan
    return math.nan


def to_bool(v: object, na_values: frozenset[str]) -> float:
    """1.0 / 0.0 / NaN for yes-no like values."""
    if is_missing(v, na_values):
        return math.nan
    if isinstance(v, (bool, np.bool_)):
        return 1.0 if v else 0.0
    s = str(v).strip().lower()
    if s in _TRUE:
        return 1.0
    if s in _FALSE:
        return 0.0
    num = to_number(v, na_values)
    return math.nan if math.isnan(num) else float(num != 0)


def to_category(v: object, na_values: frozenset[str]) -> str | None:
    """Normalised category string; integral floats print as ints (3.0 == 3)."""
    if v.__class__ is str:  # the common case, first (same result as below)
        s = v.strip()
        return None if s.lower() in na_values else s
    if is_missing(v, na_values):
        return None
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def to_ns(v: object, na_values: frozenset[str] = frozenset()) -> int:
    """Nanoseconds since epoch (naive UTC) of a timestamp-like value; NAT if missing."""
    if v is None or v is pd.NaT:
        return NAT
    if isinstance(v, pd.Timestamp):
        if v.tzinfo is not None:
            v = v.tz_convert("UTC").tz_localize(None)
        return int(v.value)
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            try:
                v = v.astimezone(timezone.utc).replace(tzinfo=None)
            except OverflowError:  # year 1 or 9999 shifted past datetime's range
                return NAT
        delta = v - _EPOCH
        ns = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
        # Outside what 64-bit nanoseconds hold (before 1677 or after 2262): missing, as pandas'
        # coerce makes it on the DataFrame path; the number overflowed the arrays (a 500).
        return ns if NAT < ns <= _NS_MAX else NAT
    if isinstance(v, np.datetime64):
        return NAT if np.isnat(v) else int(v.astype("datetime64[ns]").astype(np.int64))
    if isinstance(v, str):
        if v.strip().lower() in na_values or not v.strip():
            return NAT
        try:
            return to_ns(pd.Timestamp(v.strip()))
        except (ValueError, TypeError, OverflowError):
            return NAT
    if isinstance(v, (float, np.floating)) and math.isnan(v):
        return NAT
    return NAT


# ----------------------------------------------------------------- arrays
def object_values(values: Iterable | pd.Series | np.ndarray) -> np.ndarray:
    """A column as a numpy object array (pandas' string/NA dtypes included)."""
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=object, na_value=None)
    arr = np.asarray(values, dtype=object)
    return arr.reshape(-1)


def map_unique(values: np.ndarray | pd.Series, fn: Callable[[object], object], dtype=float) -> np.ndarray:
    """Apply a scalar function to each *distinct* value and broadcast back.

    Bit-identical to ``[fn(v) for v in object_values(values)]`` but costs one
    call per distinct value; small arrays (the online path) skip the
    factorisation. A Series is factorised as it is (pandas' Arrow-backed
    strings without a round trip through Python objects): its missing values
    map to ``fn(None)`` exactly as ``object_values`` turns them into ``None``.
    """
    if isinstance(values, pd.Series):
        if len(values) <= 32 or isinstance(values.dtype, pd.CategoricalDtype):
            values = object_values(values)
        else:
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            uniques = np.asarray(uniques, dtype=object)
            mapped = np.array([fn(u) for u in uniques] + [fn(None)], dtype=dtype)
            return mapped[codes]
    if len(values) <= 32:
        return np.array([fn(v) for v in values], dtype=dtype)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([fn(u) for u in uniques] + [fn(None)], dtype=dtype)
    return mapped[codes]  # code -1 (NA) picks the trailing fn(None)


def column_ns(series: pd.Series | np.ndarray, na_values: frozenset[str]) -> np.ndarray:
    """int64 ns of a timestamp column, NAT for missing (tz-aware → UTC)."""
    if isinstance(series, pd.Series) and isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    if isinstance(series, pd.Series) and pd.api.types.is_datetime64_dtype(series.dtype):
        return series.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    obj = object_values(series)
    return map_unique(obj, lambda v: to_ns(v, na_values), dtype=np.int64)


def column_numbers(series: pd.Series | np.ndarray, na_values: frozenset[str]) -> np.ndarray:
    """float64 values of a column through ``to_number`` semantics."""
    if isinstance(series, pd.Series) and (
        pd.api.types.is_float_dtype(series.dtype) or pd.api.types.is_integer_dtype(series.dtype)
    ):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if isinstance(series, pd.Series) and pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return map_unique(object_values(series), lambda v: to_number(v, na_values))


def as_of_ns(as_of, n: int) -> np.ndarray:
    """Per-row as-of times in int64 ns from a scalar, array or Series."""
    if as_of is None:
        now = pd.Timestamp.now(tz="UTC").tz_localize(None)
        return np.full(n, int(now.value), dtype=np.int64)
    if isinstance(as_of, (pd.Series, np.ndarray, list, tuple, pd.Index)):
        ser = pd.Series(np.asarray(as_of) if not isinstance(as_of, pd.Series) else as_of.to_numpy())
        ser = pd.to_datetime(ser)
        out = column_ns(ser, frozenset())
        if len(out) != n:
            raise ValueError(f"as_of has {len(out)} values for {n} leads")
        if (out == NAT).any():
            raise ValueError("as_of contains missing timestamps")
        return out
    ns = to_ns(pd.Timestamp(as_of))
    return np.full(n, ns, dtype=np.int64)
