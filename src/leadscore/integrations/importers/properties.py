"""Import property records and listings (e.g. public sales records)."""

from __future__ import annotations

from collections.abc import Sequence

from leadscore.enrichment.models import Property
from leadscore.integrations.importers.fields import FieldSpec, specs_from_table
from leadscore.integrations.importers.base import LOCATION_ALIASES, BatchCounts, Importer, Record
from leadscore.integrations.importers.reader import Row, RowProblem
from leadscore.integrations.schemas import PropertyImportOptions

PROPERTY_FIELDS = (
    "address", "postcode", "city", "latitude", "longitude", "property_type", "price", "bedrooms",
    "bathrooms", "living_area_sqft", "lot_sqft", "year_built", "listing_status", "listed_at",
    "sold_at", "sold_price",
)  # fmt: skip


class PropertyImporter(Importer):
    kind = "properties"
    entity = "property"
    table = Property.__table__
    fields = specs_from_table(
        Property.__table__,
        PROPERTY_FIELDS,
        overrides={
            "latitude": FieldSpec("latitude", "float", minimum=-90, maximum=90),
            "longitude": FieldSpec("longitude", "float", minimum=-180, maximum=180),
            "bedrooms": FieldSpec("bedrooms", "integer", minimum=0, maximum=1000),
            "year_built": FieldSpec("year_built", "integer", minimum=1000, maximum=2200),
            "price": FieldSpec("price", "money", minimum=0, maximum=10**12),
            "sold_price": FieldSpec("sold_price", "money", minimum=0, maximum=10**12),
        },
    )
    id_candidates = ("external_id", "id", "property_id", "listing_id")
    aliases = LOCATION_ALIASES
    options: PropertyImportOptions

    def parse(self, row: Row, problems: list[RowProblem]) -> Record | None:
        key = self.read_key(row, self.id_column, problems)
        values = self.parse_fields(row, problems)
        if problems or key is None:
            return None
        return Record(row.line, key, values, self.parse_attributes(row))

    def write(self, records: Sequence[Record]) -> BatchCounts:
        counts = BatchCounts()
        self.upsert(records, counts)
        return counts
