"""File importers: one module per kind of record, sharing reader, inference and pipeline."""
