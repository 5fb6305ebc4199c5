"""Import outcomes (won/lost) for leads already imported, e.g. a closed-deals file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import exists, func, select

from leadscore.core.bulk import existing_keys, upsert_rows
from leadscore.integrations.importers.fields import specs_from_table
from leadscore.integrations.importers.targets import LOST, TargetRule, set_lead_status
from leadscore.integrations.importers.base import BatchCounts, Importer, Record
from leadscore.integrations.importers.reader import FileRefused, Row, RowProblem
from leadscore.integrations.schemas import OutcomeImportOptions
from leadscore.leads.models import Lead, Outcome

LEAD_ID_CANDIDATES = ("lead_id", "lead", "external_id", "id")


class OutcomeImporter(Importer):
    kind = "outcomes"
    entity = "outcome"
    table = Outcome.__table__
    fields = specs_from_table(Outcome.__table__, ["closed_at", "deal_value", "reason"])
    id_candidates = ()
    id_required = False
    options: OutcomeImportOptions

    def resolve_columns(self) -> None:
        options = self.options
        name = options.lead_id or options.id_column
        if name is None:
            name = next((c for c in self.source.columns if c.lower() in LEAD_ID_CANDIDATES), None)
            if name is None:
                raise FileRefused(f"{self.file}: which column holds the lead's id? pass --lead-id COLUMN")
        self.lead_column = self.use(name, "--lead-id")
        options.id_column = None
        super().resolve_columns()
        if options.closed_at:
            self.map_field("closed_at", options.closed_at, "--closed-at")
        if options.value:
            self.map_field("deal_value", options.value, "--value")
        self.rule: TargetRule | None = None
        self.result_column: str | None = None
        if options.result_column:
            self.result_column = self.use(options.result_column, "--result-column")
            self.rule = TargetRule(options.positive, options.negative)
            self.rule.check_sample(self.source, self.result_column, "--result-column", self.result.warnings)

    def check_database(self) -> None:
        leads = Lead.__table__
        if not self.session.scalar(select(func.count()).select_from(leads).where(leads.c.dataset == self.dataset)):
            raise FileRefused(
                f"dataset {self.dataset!r} has no leads: import the leads first "
                f"(leadscore import leads FILE --dataset {self.dataset} ...)"
            )

    def parse(self, row: Row, problems: list[RowProblem]) -> Record | None:
        key = self.read_key(row, self.lead_column, problems, "lead id")
        values = self.parse_fields(row, problems)
        if self.rule is not None:
            result = self.rule(row.values.get(self.result_column))
        else:
            result = self.options.result
        if problems or key is None:
            return None
        if result is None:
            return None  # still open: counted as skipped
        values["result"] = result
        return Record(row.line, key, values, self.parse_attributes(row))

    def write(self, records: Sequence[Record]) -> BatchCounts:
        counts = BatchCounts()
        lead_ids = existing_keys(self.session, Lead.__table__, ["dataset", "external_id"], [(self.dataset, r.key) for r in records])
        known = []
        for record in records:
            lead_id = lead_ids.get((self.dataset, record.key))
            if lead_id is None:
                counts.problems.append(
                    RowProblem(record.line, self.lead_column, record.key, f"unknown lead {record.key!r} in dataset {self.dataset!r}")
                )
            else:
                known.append((lead_id, record))
        table = self.table
        current: dict[int, tuple[int, dict[str, Any]]] = {}
        if known:
            statement = select(table.c.id, table.c.lead_id, table.c.attributes).where(
                table.c.lead_id.in_([lead_id for lead_id, _ in known])
            )
            current = {lead_id: (outcome_id, attributes) for outcome_id, lead_id, attributes in self.session.execute(statement)}
        rows, statuses = [], []
        for lead_id, record in known:
            found = current.get(lead_id)
            if found is None:
                counts.inserted += 1
            elif found[0] > self.first_new_id:
                counts.duplicates += 1
            else:
                counts.updated += 1
            attributes = self.merge_attributes(found[1] if found else None, record.attributes)
            rows.append({"lead_id": lead_id, **record.values, "attributes": attributes})
            statuses.append((lead_id, record.values["result"]))
            counts.add(record.values["result"])
        self.upsert_rows(rows, ["lead_id"])
        set_lead_status(self.session, statuses)
        return counts

    def finish(self, on_batch: Callable[[], None]) -> None:
        """--others lost: every lead of the dataset still without an outcome did not convert."""
        if self.options.others != LOST:
            return
        leads, outcomes = Lead.__table__, self.table
        last = 0
        while True:
            statement = (
                select(leads.c.id)
                .where(
                    leads.c.dataset == self.dataset,
                    leads.c.id > last,
                    ~exists().where(outcomes.c.lead_id == leads.c.id),
                )
                .order_by(leads.c.id)
                .limit(self.batch_size)
            )
            ids = list(self.session.scalars(statement))
            if not ids:
                return
            upsert_rows(self.session, outcomes, [{"lead_id": i, "result": LOST} for i in ids], key=["lead_id"], update=[])
            set_lead_status(self.session, [(i, LOST) for i in ids])
            self.result.add("others_lost", len(ids))
            last = ids[-1]
            on_batch()
