"""Import sales agents: who they are, their team, specialties, languages and territories."""

from __future__ import annotations

from collections.abc import Sequence

from leadscore.agents.models import Agent
from leadscore.integrations.importers.fields import FieldSpec, specs_from_table
from leadscore.integrations.importers.base import BatchCounts, Importer, Record
from leadscore.integrations.importers.reader import Row, RowProblem
from leadscore.integrations.schemas import AgentImportOptions

AGENT_FIELDS = ("name", "email", "phone", "team", "specialties", "languages", "territories", "capacity", "active")


class AgentImporter(Importer):
    kind = "agents"
    entity = "agent"
    table = Agent.__table__
    has_updated_at = True
    fields = specs_from_table(
        Agent.__table__,
        AGENT_FIELDS,
        overrides={
            "email": FieldSpec("email", "email", max_length=255),
            "capacity": FieldSpec("capacity", "integer", minimum=0, maximum=100_000),
        },
    )
    id_candidates = ("external_id", "id", "agent_id", "agent")
    options: AgentImportOptions

    def parse(self, row: Row, problems: list[RowProblem]) -> Record | None:
        key = self.read_key(row, self.id_column, problems)
        values = self.parse_fields(row, problems)
        if problems or key is None:
            return None
        if not values.get("name"):
            values["name"] = key  # a roster without names: the id is the name
        return Record(row.line, key, values, self.parse_attributes(row))

    def write(self, records: Sequence[Record]) -> BatchCounts:
        counts = BatchCounts()
        self.upsert(records, counts)
        return counts
