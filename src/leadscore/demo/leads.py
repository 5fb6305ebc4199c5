"""Leads: arrival times, channels, what they want, what they can afford, how to reach them.

Each lead is anchored on a real parcel in the area it is interested in (for
sellers: their own home), which sets its ZIP code, property type and the price
it can really afford. Latent columns (``intent_strength``, ``hidden_noise``,
``budget_stretch``, ``true_timeline``...) stay out of the database.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from leadscore.demo import names
from leadscore.demo.mechanism import NOISE_SD
from leadscore.demo.properties import RENT_PER_PRICE, PriceIndex

SOURCES = ("website_form", "portal", "referral", "open_house", "facebook_ads", "google_ads", "walk_in")
CHANNEL_OF_SOURCE = {
    "website_form": "web",
    "portal": "portal",
    "referral": "referral",
    "open_house": "event",
    "facebook_ads": "paid_social",
    "google_ads": "paid_search",
    "walk_in": "phone",
}
SOURCE_P_WEEKDAY = np.array([0.265, 0.325, 0.09, 0.005, 0.12, 0.135, 0.06])
SOURCE_P_WEEKEND = np.array([0.22, 0.28, 0.06, 0.22, 0.10, 0.10, 0.02])
INTENTS = ("buy", "sell", "rent", "invest")
INTENT_P = {
    "website_form": [0.50, 0.25, 0.12, 0.13],
    "portal": [0.62, 0.08, 0.22, 0.08],
    "referral": [0.45, 0.40, 0.05, 0.10],
    "open_house": [0.85, 0.10, 0.00, 0.05],
    "facebook_ads": [0.50, 0.30, 0.12, 0.08],
    "google_ads": [0.55, 0.22, 0.13, 0.10],
    "walk_in": [0.45, 0.30, 0.15, 0.10],
}
# How active a lead from each source is online (log-multiplier of its activity).
SOURCE_ACTIVITY = {
    "website_form": 0.0, "portal": 0.2, "referral": -0.2, "open_house": -0.1,
    "facebook_ads": -0.3, "google_ads": 0.0, "walk_in": -0.4,
}
HAS_EMAIL = {"website_form": .98, "portal": .97, "referral": .85, "open_house": .8,
             "facebook_ads": .95, "google_ads": .97, "walk_in": .6}
HAS_PHONE = {"website_form": .75, "portal": .8, "referral": .95, "open_house": .9,
             "facebook_ads": .9, "google_ads": .8, "walk_in": .98}
FINANCING = np.array(["cash", "mortgage_pre_approved", "mortgage_not_pre_approved", "unknown"], dtype=object)
FINANCING_P = {"buy": [0.12, 0.38, 0.25, 0.25], "invest": [0.40, 0.30, 0.10, 0.20]}
FINANCING_Z = np.array([0.3, 0.5, -0.2, -0.4])  # committed leads get their financing sorted
TIMELINES = np.array([1, 2, 3, 6, 9, 12, 18, 24])
TIMELINE_P = {
    "buy": [.06, .12, .20, .25, .12, .15, .06, .04],
    "sell": [.05, .10, .20, .25, .12, .15, .08, .05],
    "rent": [.30, .35, .20, .10, .03, .02, 0, 0],
    "invest": [.05, .10, .20, .25, .15, .15, .06, .04],
}
LANGUAGES = np.array(["en", "es", "zh", "vi", "ko", "ru", "so", "tl"], dtype=object)
LANGUAGE_P = np.array([0.86, 0.05, 0.03, 0.02, 0.015, 0.01, 0.008, 0.007])
MONTH_WEIGHT = np.array([0.8, 0.9, 1.1, 1.2, 1.25, 1.2, 1.1, 1.05, 1.0, 0.95, 0.8, 0.65])
WEEKDAY_WEIGHT = np.array([1.15, 1.1, 1.05, 1.0, 0.9, 0.85, 0.95])  # Monday first
LOCAL_ZONE = "America/Los_Angeles"


def _categorical(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One draw per row (Gumbel-max)."""
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)


def _arrivals(rng: np.random.Generator, n: int, start: datetime, window_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Arrival days (by seasonality, weekday and a slight growth) and sources."""
    days = pd.date_range(start.date(), periods=window_days, freq="D")
    weight = MONTH_WEIGHT[days.month - 1] * WEEKDAY_WEIGHT[days.day_of_week] * (1 + 0.1 * np.arange(window_days) / window_days)
    day = np.sort(rng.choice(window_days, size=n, p=weight / weight.sum()))
    weekend = days.day_of_week.to_numpy()[day] >= 5
    logits = np.where(weekend[:, None], np.log(SOURCE_P_WEEKEND), np.log(SOURCE_P_WEEKDAY))
    return day, _categorical(rng, logits)


def _local_hours(rng: np.random.Generator, source: np.ndarray) -> np.ndarray:
    n = len(source)
    web = np.where(rng.random(n) < 0.7, np.clip(rng.normal(20.0, 2.5, n), 6.0, 23.99), rng.uniform(0, 24, n))
    hours = web
    hours = np.where(source == SOURCES.index("open_house"), rng.uniform(11, 16, n), hours)
    hours = np.where(source == SOURCES.index("walk_in"), rng.uniform(9, 18, n), hours)
    hours = np.where(source == SOURCES.index("referral"), rng.uniform(8, 20, n), hours)
    return hours


def make_leads(
    rng: np.random.Generator,
    n: int,
    start: datetime,
    window_days: int,
    properties: pd.DataFrame,
    index: PriceIndex,
) -> pd.DataFrame:
    day, source_code = _arrivals(rng, n, start, window_days)
    hours = _local_hours(rng, source_code)
    local = pd.to_datetime(start.date()) + pd.to_timedelta(day, unit="D") + pd.to_timedelta(np.round(hours * 3600), unit="s")
    utc = pd.DatetimeIndex(local).tz_localize(LOCAL_ZONE, ambiguous=np.zeros(n, dtype=bool), nonexistent="shift_forward")
    t0 = (utc.tz_convert("UTC").tz_localize(None) - pd.Timestamp(start.replace(tzinfo=None))).total_seconds().to_numpy() / 86400.0
    t0 = np.where(t0 >= window_days - 1e-4, t0 - 1.0, t0)
    order = np.argsort(t0, kind="stable")
    t0, source_code, hours = t0[order], source_code[order], hours[order]
    source = np.array(SOURCES, dtype=object)[source_code]

    intent_p = np.array([INTENT_P[s] for s in SOURCES])[source_code]
    intent = np.array(INTENTS, dtype=object)[_categorical(rng, np.log(intent_p + 1e-12))]

    # Anchor parcel: the home being sold, or a typical home in the area searched.
    price = properties["price"].to_numpy(dtype=float)
    anchor = rng.integers(0, len(properties), n)
    for name, power in (("rent", -0.7), ("invest", -0.5)):
        mask = intent == name
        weight = price**power
        anchor[mask] = rng.choice(len(properties), size=int(mask.sum()), p=weight / weight.sum())
    zipcode = properties["postcode"].to_numpy(dtype=object)[anchor]
    zip_code = index.zip_codes(zipcode)

    z = rng.normal(size=n)
    noise = rng.normal(0.0, NOISE_SD, n)
    afford = price[anchor] * np.exp(rng.normal(0.0, 0.10, n))  # what the lead can really afford / is worth
    stretch = rng.normal(0.02, 0.22, n)

    financing = np.full(n, "", dtype=object)
    for name, p in FINANCING_P.items():
        mask = intent == name
        logits = np.log(p) + np.outer(z[mask], FINANCING_Z)
        financing[mask] = FINANCING[_categorical(rng, logits)]
    pre_approved = np.where(
        financing == "mortgage_pre_approved", True, np.where(financing == "mortgage_not_pre_approved", False, None)
    )
    timeline_p = np.array([TIMELINE_P[i] for i in intent])
    timeline_logits = np.log(timeline_p + 1e-12) - 0.4 * np.outer(z, np.log2(TIMELINES / 3.0))
    true_timeline = TIMELINES[_categorical(rng, timeline_logits)]

    # Stated budget: buyers state roughly what they can afford and look at exp(stretch)
    # times that; sellers look at comparable homes and expect exp(stretch) times their value.
    buyer_like = intent != "sell"
    unit = np.where(intent == "rent", RENT_PER_PRICE, 1.0)
    stated = np.where(buyer_like, afford, afford * np.exp(stretch)) * unit
    step = np.where(intent == "rent", 50.0, 10_000.0)
    low = np.where(buyer_like, rng.uniform(0.65, 0.9, n), 0.97)
    high = np.where(buyer_like, rng.uniform(1.0, 1.12, n), 1.06)
    price_min = np.round(stated * low / step) * step
    price_max = np.round(stated * high / step) * step
    budget_missing = rng.random(n)
    price_max = np.where(budget_missing < 0.18, np.nan, price_max)
    price_min = np.where(budget_missing < 0.28, np.nan, price_min)

    has_email = rng.random(n) < np.vectorize(HAS_EMAIL.get)(source)
    has_phone = rng.random(n) < np.vectorize(HAS_PHONE.get)(source)
    has_phone |= ~has_email
    consent_email = has_email & (rng.random(n) < 0.9)
    consent_sms = has_phone & (rng.random(n) < 0.55)
    consent_phone = has_phone & (rng.random(n) < 0.92)
    neither = ~consent_email & ~consent_phone
    consent_phone |= neither & has_phone
    consent_email |= neither & ~has_phone

    first, last = names.names(rng, n)
    number = np.arange(1, n + 1)
    email = np.where(has_email, names.emails(first, last, number, "example.com"), None)
    phone = np.where(has_phone, names.phones(rng, n), None)
    language = LANGUAGES[rng.choice(len(LANGUAGES), size=n, p=LANGUAGE_P)]
    first_time = (intent == "buy") & (rng.random(n) < 0.35)

    anchor_type = properties["property_type"].to_numpy(dtype=object)[anchor]
    bedrooms = np.clip(properties["bedrooms"].to_numpy()[anchor], 1, np.where(intent == "rent", 4, 6)).astype(float)
    bedrooms = np.where(rng.random(n) < 0.25, np.nan, bedrooms)
    postcode = np.where((intent != "sell") & (rng.random(n) < 0.05), None, zipcode)
    seller = intent == "sell"
    geo = seller | (rng.random(n) < 0.4)
    jitter = np.where(seller, 0.0, 0.01)
    latitude = np.where(geo, properties["latitude"].to_numpy()[anchor] + rng.normal(0, 1, n) * jitter, np.nan)
    longitude = np.where(geo, properties["longitude"].to_numpy()[anchor] + rng.normal(0, 1, n) * jitter, np.nan)
    city = np.where(pd.isna(postcode), None, properties["city"].to_numpy(dtype=object)[anchor])
    address = np.where(seller, properties["address"].to_numpy(dtype=object)[anchor], None)
    timeline_stated = np.where(rng.random(n) < 0.2, np.nan, true_timeline.astype(float))

    return pd.DataFrame(
        {
            "external_id": np.char.add("demo-L", np.char.zfill(number.astype(str), 6)).astype(object),
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone": phone,
            "source": source,
            "channel": np.vectorize(CHANNEL_OF_SOURCE.get)(source).astype(object),
            "t0": t0,
            "local_hour": hours,
            "intent": intent,
            "property_type": np.where(rng.random(n) < 0.1, None, anchor_type),
            "price_min": price_min,
            "price_max": price_max,
            "bedrooms": bedrooms,
            "address": address,
            "postcode": postcode,
            "city": city,
            "latitude": np.round(latitude, 5),
            "longitude": np.round(longitude, 5),
            "financing": np.where(financing == "", None, financing),
            "pre_approved": pre_approved,
            "timeline_months": timeline_stated,
            "consent_email": consent_email,
            "consent_sms": consent_sms,
            "consent_phone": consent_phone,
            "consent_profiling": rng.random(n) < 0.97,
            "preferred_language": language,
            "first_time_buyer": first_time,
            # Latent and helper columns (never written to the database).
            "anchor": anchor,
            "zip_code": zip_code,
            "true_zip": zipcode,
            "anchor_type": anchor_type,
            "intent_strength": z,
            "hidden_noise": noise,
            "afford": afford,
            "budget_stretch": stretch,
            "financing_true": financing,
            "true_timeline": true_timeline,
            "luxury": price[anchor] >= np.quantile(price, 0.9),
        }
    )
