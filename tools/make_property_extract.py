"""Build the compact King County property extract shipped inside the package.

Reads ``../shared/data/king_county_house_sales/kc_house_data.csv`` (relative to
the repository root, or a path given as the first argument) and writes
``src/leadscore/demo/data/king_county_properties.csv.gz``: one row per parcel
(the last sale when a parcel sold twice), only the columns the demo world
uses, with a byte-for-byte reproducible gzip (no timestamp in the header).

Run from anywhere: ``python tools/make_property_extract.py``. The runtime only
ever reads the packaged extract, never ``../shared``.
"""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE = REPO_ROOT.parent / "shared" / "data" / "king_county_house_sales" / "kc_house_data.csv"
TARGET = REPO_ROOT / "src" / "leadscore" / "demo" / "data" / "king_county_properties.csv.gz"

COLUMNS = [
    "id", "date", "price", "bedrooms", "bathrooms", "sqft_living", "sqft_lot", "floors",
    "yr_built", "zipcode", "lat", "long", "condition", "grade",
]


def build(source: Path) -> pd.DataFrame:
    raw = pd.read_csv(source, dtype={"id": str, "zipcode": str, "date": str})
    frame = raw[COLUMNS].copy()
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%dT%H%M%S").dt.strftime("%Y-%m-%d")
    frame["zipcode"] = frame["zipcode"].str.zfill(5)
    frame["price"] = frame["price"].round().astype("int64")
    for column in ("bedrooms", "sqft_living", "sqft_lot", "yr_built", "condition", "grade"):
        frame[column] = frame[column].astype("int64")
    # A parcel sold twice in the year keeps its last sale; stable sort keeps file order for ties.
    frame = frame.sort_values(["date"], kind="stable").drop_duplicates("id", keep="last")
    return frame.sort_values("id", kind="stable").reset_index(drop=True)


def write(frame: pd.DataFrame, target: Path) -> int:
    text = frame.to_csv(index=False, lineterminator="\n", float_format="%.6g")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as handle:
        handle.write(text.encode("utf-8"))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(buffer.getvalue())
    return len(buffer.getvalue())


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else SOURCE
    if not source.is_file():
        raise SystemExit(f"error: {source} not found (see docs/demo-world.md)")
    frame = build(source)
    size = write(frame, TARGET)
    print(f"wrote {TARGET.relative_to(REPO_ROOT)}: {len(frame):,} parcels, {size / 1024:,.0f} KiB")


if __name__ == "__main__":
    main(sys.argv[1:])
