"""Import interactions (visits, emails, calls, showings...) of leads already imported."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from leadscore.core.bulk import existing_keys
from leadscore.enrichment.models import Property
from leadscore.integrations.importers.fields import FieldSpec, specs_from_table
from leadscore.integrations.importers.leads import AgentDirectory
from leadscore.integrations.importers.base import BatchCounts, Importer, Record
from leadscore.integrations.importers.reader import FileRefused, Row, RowProblem
from leadscore.integrations.schemas import InteractionImportOptions
from leadscore.interactions.models import DIRECTIONS, Interaction
from leadscore.leads.models import Lead

LEAD_ID_CANDIDATES = ("lead_id", "lead", "lead_external_id")


def derived_key(lead: str, values: dict) -> str:
    """Stable id for a row without --id: the same event imported twice is stored once."""
    parts = (lead, values["type"], values["occurred_at"].isoformat(), values.get("channel") or "", values.get("direction") or "")
    return "auto:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


class InteractionImporter(Importer):
    kind = "interactions"
    entity = "interaction"
    table = Interaction.__table__
    attributes_column = "metadata"
    fields = {
        **specs_from_table(Interaction.__table__, ["type", "occurred_at", "channel"]),
        "direction": FieldSpec("direction", "choice", choices=DIRECTIONS),
        "agent": FieldSpec("agent", "text", max_length=128),
        "property": FieldSpec("property", "text", max_length=128),
    }
    id_candidates = ("external_id", "interaction_id", "event_id")
    id_required = False
    options: InteractionImportOptions

    def resolve_columns(self) -> None:
        options = self.options
        name = options.lead_id or next((c for c in self.source.columns if c.lower() in LEAD_ID_CANDIDATES), None)
        if name is None:
            raise FileRefused(f"{self.file}: which column holds the lead's id? pass --lead-id COLUMN")
        self.lead_column = self.use(name, "--lead-id")
        super().resolve_columns()

    def auto_map(self) -> None:
        super().auto_map()
        for field_name in ("type", "occurred_at"):
            if field_name not in self.mapping:
                raise FileRefused(
                    f"{self.file}: interactions need a {field_name} column; pass --map {field_name}=COLUMN "
                    f"(columns: {', '.join(repr(c) for c in self.source.columns[:40])})"
                )

    def check_database(self) -> None:
        self.agents = AgentDirectory(self)

    def parse(self, row: Row, problems: list[RowProblem]) -> Record | None:
        lead = self.read_key(row, self.lead_column, problems, "lead id")
        key = self.read_key(row, self.id_column, problems) if self.id_column else None
        values = self.parse_fields(row, problems)
        for field_name in ("type", "occurred_at"):
            if field_name not in values and not any(p.column == self.mapping[field_name] for p in problems):
                problems.append(RowProblem(row.line, self.mapping[field_name], "", f"missing {field_name}"))
        if problems or lead is None:
            return None
        values["type"] = values["type"].strip().lower().replace(" ", "_")
        if key is None:
            key = derived_key(lead, values)
        return Record(row.line, key, values, self.parse_attributes(row), {"lead": lead})

    def write(self, records: Sequence[Record]) -> BatchCounts:
        counts = BatchCounts()
        leads = existing_keys(self.session, Lead.__table__, ["dataset", "external_id"], [(self.dataset, r.extra["lead"]) for r in records])
        property_refs = {r.values["property"] for r in records if r.values.get("property")}
        properties = existing_keys(self.session, Property.__table__, ["dataset", "external_id"], [(self.dataset, p) for p in property_refs]) if property_refs else {}
        ready = []
        for record in records:
            values = dict(record.values)
            problems = []
            lead_id = leads.get((self.dataset, record.extra["lead"]))
            if lead_id is None:
                problems.append(RowProblem(record.line, self.lead_column, record.extra["lead"], f"unknown lead {record.extra['lead']!r} in dataset {self.dataset!r}"))
            agent = values.pop("agent", None)
            if agent is not None:
                values["agent_id"] = self.agents.get(agent)
                if values["agent_id"] is None:
                    problems.append(RowProblem(record.line, self.mapping["agent"], agent, f"unknown agent {agent!r} in dataset {self.dataset!r}"))
            prop = values.pop("property", None)
            if prop is not None:
                values["property_id"] = properties.get((self.dataset, prop))
                if values["property_id"] is None:
                    problems.append(RowProblem(record.line, self.mapping["property"], prop, f"unknown property {prop!r} in dataset {self.dataset!r}"))
            if problems:
                counts.problems.extend(problems)
                continue
            values["lead_id"] = lead_id
            ready.append(Record(record.line, record.key, values, record.attributes))
        if ready:
            self.upsert(ready, counts)
        return counts

    def forget(self) -> None:
        self.agents.forget()
