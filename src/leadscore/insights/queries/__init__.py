"""The dashboard's queries, one module per page area; ``insights.service`` is the entry point."""
