"""The demo's listing stock: real King County parcels, prices moved to the demo's dates.

Only the packaged extract (``demo/data/king_county_properties.csv.gz``) is read.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from leadscore.demo.geography import AREA_BY_ZIP, AREA_NAMES, city_for

EXTRACT = "king_county_properties.csv.gz"

# Approximate mid-year level of the S&P CoreLogic Case-Shiller WA-Seattle home price
# index (not seasonally adjusted), rounded. Used only to make prices plausible for the
# demo's dates: linear between mid-years, flat before the first and after the last.
MARKET_INDEX: dict[int, float] = {
    2014: 170.0, 2015: 183.0, 2016: 202.0, 2017: 228.0, 2018: 251.0, 2019: 250.0,
    2020: 266.0, 2021: 316.0, 2022: 356.0, 2023: 348.0, 2024: 364.0, 2025: 370.0,
}

# Monthly rent as a share of a home's price (gross yield ~5.4 % a year), for rent leads.
RENT_PER_PRICE = 0.0045


def market_index(days: np.ndarray) -> np.ndarray:
    """Index level at dates given as days since 1970-01-01 (numpy ``datetime64[D]`` as int)."""
    years = np.array(sorted(MARKET_INDEX))
    mid_days = np.array([(date(y, 7, 1) - date(1970, 1, 1)).days for y in years], dtype=float)
    levels = np.array([MARKET_INDEX[y] for y in years])
    return np.interp(np.asarray(days, dtype=float), mid_days, levels)


@lru_cache(maxsize=1)
def load_extract() -> pd.DataFrame:
    """The packaged parcels, sorted by parcel id (read once per process)."""
    with resources.files("leadscore.demo.data").joinpath(EXTRACT).open("rb") as handle:
        frame = pd.read_csv(handle, compression="gzip", dtype={"id": str, "zipcode": str, "date": str})
    return frame.sort_values("id", kind="stable").reset_index(drop=True)


def property_type(sqft_lot: np.ndarray, floors: np.ndarray) -> np.ndarray:
    """Heuristic from the lot: the records do not say which homes are condos or townhouses."""
    return np.where(
        sqft_lot < 1500, "condo", np.where((sqft_lot < 3000) & (floors >= 2), "townhouse", "single_family")
    )


def build_properties(end: date) -> pd.DataFrame:
    """Listings with prices at the demo's market level (listing dates are set later)."""
    raw = load_extract()
    sale_days = pd.to_datetime(raw["date"]).to_numpy().astype("datetime64[D]").astype(np.int64)
    end_day = (end - date(1970, 1, 1)).days
    factor = market_index(np.array([end_day]))[0] / market_index(sale_days)
    price = np.round(raw["price"].to_numpy() * factor / 1000.0) * 1000.0
    zipcode = raw["zipcode"].to_numpy(dtype=object)
    cities = np.array([city_for(z) for z in zipcode], dtype=object)
    frame = pd.DataFrame(
        {
            "external_id": "kc-" + raw["id"].astype(str),
            "parcel": raw["id"].astype(str).to_numpy(dtype=object),
            "postcode": zipcode,
            "city": cities,
            "area": np.array([AREA_BY_ZIP.get(z, "") for z in zipcode], dtype=object),
            "latitude": raw["lat"].to_numpy(dtype=float),
            "longitude": raw["long"].to_numpy(dtype=float),
            "property_type": property_type(raw["sqft_lot"].to_numpy(), raw["floors"].to_numpy()),
            "price": price,
            "bedrooms": raw["bedrooms"].to_numpy(dtype=np.int64),
            "bathrooms": raw["bathrooms"].to_numpy(dtype=float),
            "living_area_sqft": raw["sqft_living"].to_numpy(dtype=float),
            "lot_sqft": raw["sqft_lot"].to_numpy(dtype=float),
            "year_built": raw["yr_built"].to_numpy(dtype=np.int64),
            "condition": raw["condition"].to_numpy(dtype=np.int64),
            "grade": raw["grade"].to_numpy(dtype=np.int64),
            "record_sale_date": raw["date"].to_numpy(dtype=object),
            "record_sale_price": raw["price"].to_numpy(dtype=float),
            "market_factor": np.round(factor, 4),
        }
    )
    frame["address"] = "Parcel " + frame["parcel"] + ", " + frame["city"] + " WA " + frame["postcode"]
    frame["area_code"] = pd.Categorical(frame["area"], categories=list(AREA_NAMES)).codes.astype(np.int64)
    return frame


class PriceIndex:
    """Find listings by ZIP and price quickly: listings sorted by (ZIP, price)."""

    def __init__(self, properties: pd.DataFrame) -> None:
        self.zips = np.array(sorted(properties["postcode"].unique()), dtype=object)
        zip_code = np.searchsorted(self.zips, properties["postcode"].to_numpy(dtype=object))
        price = properties["price"].to_numpy(dtype=float)
        order = np.lexsort((price, zip_code))
        self.order = order
        self.keys = zip_code[order] * 1e9 + price[order]
        self.start = np.searchsorted(zip_code[order], np.arange(len(self.zips)), side="left")
        self.stop = np.searchsorted(zip_code[order], np.arange(len(self.zips)), side="right")
        self.zip_code = zip_code
        # ZIPs of each area, padded, to draw a neighbouring ZIP.
        area_of_zip = np.array([AREA_NAMES.index(AREA_BY_ZIP[z]) for z in self.zips])
        width = int(np.bincount(area_of_zip).max())
        self.area_zips = np.full((len(AREA_NAMES), width), -1, dtype=np.int64)
        self.area_size = np.bincount(area_of_zip, minlength=len(AREA_NAMES))
        for area in range(len(AREA_NAMES)):
            members = np.flatnonzero(area_of_zip == area)
            self.area_zips[area, : len(members)] = members
        self.area_of_zip = area_of_zip

    def zip_codes(self, postcodes: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.zips, postcodes)

    def neighbour_zip(self, zip_code: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        area = self.area_of_zip[zip_code]
        pick = (rng.random(len(zip_code)) * self.area_size[area]).astype(np.int64)
        return self.area_zips[area, pick]

    def nearest(self, zip_code: np.ndarray, price: np.ndarray, rng: np.random.Generator, spread: int = 3) -> np.ndarray:
        """Row positions (into the properties frame) of listings in the ZIP priced near ``price``."""
        position = np.searchsorted(self.keys, zip_code * 1e9 + np.clip(price, 0, 9e8))
        position += rng.integers(-spread, spread + 1, size=len(position))
        position = np.clip(position, self.start[zip_code], self.stop[zip_code] - 1)
        return self.order[position]
