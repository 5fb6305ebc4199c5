"""Import leads, with their outcome (--target) and agent (--agent) when given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select, update

from leadscore.agents.models import Agent
from leadscore.core.bulk import existing_keys, insert_rows, upsert_rows
from leadscore.core.database import utcnow
from leadscore.integrations.importers.fields import FieldError, FieldSpec, make_parser, specs_from_table
from leadscore.integrations.importers.targets import TargetRule
from leadscore.integrations.importers.base import LOCATION_ALIASES, BatchCounts, Importer, Record
from leadscore.integrations.importers.reader import Row, RowProblem
from leadscore.integrations.schemas import LeadImportOptions
from leadscore.leads.models import INTENTS, LEAD_STATUSES, Lead, Outcome
from leadscore.routing.models import Assignment

LEAD_FIELDS = (
    "first_name", "last_name", "email", "phone", "source", "channel", "status", "intent",
    "property_type", "price_min", "price_max", "bedrooms", "address", "postcode", "city",
    "latitude", "longitude", "financing", "pre_approved", "timeline_months",
    "consent_email", "consent_sms", "consent_phone", "consent_profiling", "notes", "created_at",
)  # fmt: skip
OUTCOME_FIELDS = specs_from_table(Outcome.__table__, ["closed_at", "deal_value"])


class AgentDirectory:
    """Agents of one dataset by external id or name; unknown ones are created."""

    def __init__(self, importer: Importer) -> None:
        self.importer = importer
        self.by_id: dict[str, int] | None = None
        self.by_name: dict[str, int] = {}

    def _load(self) -> dict[str, int]:
        table = Agent.__table__
        self.by_id, self.by_name = {}, {}
        rows = self.importer.session.execute(
            select(table.c.id, table.c.external_id, table.c.name).where(table.c.dataset == self.importer.dataset)
        )
        for agent_id, external_id, name in rows:
            self.by_id[external_id] = agent_id
            self.by_name.setdefault(name.casefold(), agent_id)
        return self.by_id

    def get(self, ref: str) -> int | None:
        by_id = self.by_id if self.by_id is not None else self._load()
        return by_id.get(ref) or self.by_name.get(ref.casefold())

    def resolve(self, refs: set[str], counts: BatchCounts) -> dict[str, int]:
        found = {ref: self.get(ref) for ref in refs}
        missing = sorted(ref for ref, agent_id in found.items() if agent_id is None)
        if missing:
            table = Agent.__table__
            dataset = self.importer.dataset
            rows = [{"dataset": dataset, "external_id": ref, "name": ref} for ref in missing]
            upsert_rows(self.importer.session, table, rows, key=["dataset", "external_id"], update=[])
            created = existing_keys(self.importer.session, table, ["dataset", "external_id"], [(dataset, r) for r in missing])
            for (_, ref), agent_id in created.items():
                assert self.by_id is not None
                self.by_id[ref] = found[ref] = agent_id
            counts.add("agents_created", len(missing))
        return {ref: agent_id for ref, agent_id in found.items() if agent_id is not None}

    def forget(self) -> None:
        self.by_id = None


class LeadImporter(Importer):
    kind = "leads"
    entity = "lead"
    table = Lead.__table__
    has_updated_at = True
    fields = specs_from_table(
        Lead.__table__,
        LEAD_FIELDS,
        overrides={
            "email": FieldSpec("email", "email", max_length=255),
            "status": FieldSpec("status", "choice", choices=LEAD_STATUSES),
            "intent": FieldSpec("intent", "choice", choices=INTENTS),
            "latitude": FieldSpec("latitude", "float", minimum=-90, maximum=90),
            "longitude": FieldSpec("longitude", "float", minimum=-180, maximum=180),
            "price_min": FieldSpec("price_min", "float", minimum=0),
            "price_max": FieldSpec("price_max", "float", minimum=0),
            "bedrooms": FieldSpec("bedrooms", "integer", minimum=0, maximum=1000),
            "timeline_months": FieldSpec("timeline_months", "integer", minimum=0, maximum=1200),
        },
    )
    id_candidates = ("external_id", "id", "lead_id")
    aliases = LOCATION_ALIASES
    options: LeadImportOptions

    def resolve_columns(self) -> None:
        super().resolve_columns()
        options = self.options
        if options.created_at:
            self.map_field("created_at", options.created_at, "--created-at")
        self.target = self.closed_at = self.value = self.agent = None
        self.rule: TargetRule | None = None
        self.outcome_parsers: dict[str, tuple[str, Any]] = {}
        if options.target:
            self.target = self.use(options.target, "--target")
            self.rule = TargetRule(options.positive, options.negative)
            self.rule.check_sample(self.source, self.target, "--target", self.result.warnings)
        for name, column in (("closed_at", options.closed_at), ("deal_value", options.value)):
            if column:
                option = "--closed-at" if name == "closed_at" else "--value"
                used = self.use(column, option)
                sample = self.sample_values(used) if name == "closed_at" else ()
                self.outcome_parsers[name] = (used, make_parser(OUTCOME_FIELDS[name], sample, day_first=options.day_first))
        if options.agent:
            self.agent = self.use(options.agent, "--agent")
        self.agents = AgentDirectory(self)

    def parse(self, row: Row, problems: list[RowProblem]) -> Record | None:
        key = self.read_key(row, self.id_column, problems)
        values = self.parse_fields(row, problems)
        extra: dict[str, Any] = {}
        if self.rule is not None:
            result = self.rule(row.values.get(self.target))
            if result is not None:
                outcome = {"result": result}
                for name, (column, parse) in self.outcome_parsers.items():
                    raw = row.values.get(column)
                    try:
                        outcome[name] = None if raw is None else parse(raw)
                    except FieldError as exc:
                        problems.append(RowProblem(row.line, column, raw, f"{name}: {exc}"))
                extra["outcome"] = outcome
                values["status"] = result  # written with the lead: no second statement
        if self.agent is not None and row.values.get(self.agent) is not None:
            agent = self.read_key(row, self.agent, problems, "agent")
            if agent is not None:
                extra["agent"] = agent
        if problems or key is None:
            return None
        return Record(row.line, key, values, self.parse_attributes(row), extra)

    def write(self, records: Sequence[Record]) -> BatchCounts:
        counts = BatchCounts()
        agent_refs = {r.extra["agent"] for r in records if "agent" in r.extra}
        agent_ids = self.agents.resolve(agent_refs, counts) if agent_refs else {}
        self.upsert(records, counts)
        involved = [r for r in records if r.extra]
        keys = [(self.dataset, r.key) for r in involved]
        ids = existing_keys(self.session, self.table, ["dataset", "external_id"], keys) if involved else {}
        if self.rule is not None:
            self._write_outcomes(records, ids, counts)
        if agent_ids:
            self._write_assignments(involved, ids, agent_ids, counts)
        return counts

    def _write_outcomes(self, records: Sequence[Record], ids: dict[tuple[Any, ...], int], counts: BatchCounts) -> None:
        rows = []
        for record in records:
            outcome = record.extra.get("outcome")
            if outcome is None:
                counts.add("open")
                continue
            rows.append({"lead_id": ids[(self.dataset, record.key)], **outcome})
            counts.add(outcome["result"])
        upsert_rows(self.session, Outcome.__table__, rows, key=["lead_id"])

    def _write_assignments(
        self, records: Sequence[Record], ids: dict[tuple[Any, ...], int], agent_ids: dict[str, int], counts: BatchCounts
    ) -> None:
        wanted = {ids[(self.dataset, r.key)]: (agent_ids[r.extra["agent"]], r) for r in records if "agent" in r.extra}
        if not wanted:
            return
        table = Assignment.__table__
        current: dict[int, tuple[int, int]] = {}
        statement = (
            select(table.c.id, table.c.lead_id, table.c.agent_id)
            .where(table.c.lead_id.in_(list(wanted)), table.c.ended_at.is_(None))
            .order_by(table.c.assigned_at)
        )
        for assignment_id, lead_id, agent_id in self.session.execute(statement):
            current[lead_id] = (assignment_id, agent_id)
        now = utcnow()
        ended, new_rows, leads = [], [], []
        for lead_id, (agent_id, record) in wanted.items():
            previous = current.get(lead_id)
            if previous is not None and previous[1] == agent_id:
                continue  # re-import: same owner, nothing to record
            if previous is not None:
                ended.append({"b_id": previous[0], "b_now": now})
            assigned_at = record.values.get("created_at") if previous is None else None
            new_rows.append(
                {
                    "lead_id": lead_id,
                    "agent_id": agent_id,
                    "assigned_at": assigned_at or now,
                    "method": "import",
                    "assigned_by": "import",
                    "reason": f"imported from {self.file}"[:500],
                }
            )
            leads.append({"b_id": lead_id, "b_agent": agent_id})
        if ended:
            self.session.execute(
                update(table).where(table.c.id == bindparam("b_id")).values(ended_at=bindparam("b_now")), ended
            )
        insert_rows(self.session, table, new_rows)
        if leads:
            lead_table = self.table
            self.session.execute(
                update(lead_table).where(lead_table.c.id == bindparam("b_id")).values(agent_id=bindparam("b_agent")),
                leads,
            )
        counts.add("assigned", len(new_rows))
        counts.add("reassigned", len(ended))

    def forget(self) -> None:
        self.agents.forget()
