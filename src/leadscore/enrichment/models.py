"""Property records and listings, used to enrich leads and as listing references."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from leadscore.core.database import Base, utcnow


class Property(Base):
    __tablename__ = "properties"
    __table_args__ = (UniqueConstraint("dataset", "external_id"), Index(None, "postcode", "price"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(64), default="default")
    external_id: Mapped[str] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(String(255))
    postcode: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(100))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    property_type: Mapped[str | None] = mapped_column(String(50))
    price: Mapped[float | None] = mapped_column(Numeric(14, 2, asdecimal=False))
    bedrooms: Mapped[int | None] = mapped_column(Integer)
    bathrooms: Mapped[float | None] = mapped_column(Float)
    living_area_sqft: Mapped[float | None] = mapped_column(Float)
    lot_sqft: Mapped[float | None] = mapped_column(Float)
    year_built: Mapped[int | None] = mapped_column(Integer)
    # Listing life: active while on the market, then sold or withdrawn.
    listing_status: Mapped[str | None] = mapped_column(String(20))
    listed_at: Mapped[datetime | None]
    sold_at: Mapped[datetime | None]
    sold_price: Mapped[float | None] = mapped_column(Numeric(14, 2, asdecimal=False))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    inserted_at: Mapped[datetime] = mapped_column(default=utcnow)
