"""Store a built world as the "demo" dataset, replacing the previous one.

Runs inside the caller's transaction (the command owns the commit): previous
demo leads (with their interactions, outcomes, assignments and scores) are
deleted, agents and properties are upserted on their natural keys (so their
ids stay stable across rebuilds and nothing pointing at them is disturbed),
and the new rows are appended. Other datasets are never touched. The hidden
truth is not written anywhere in the database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from leadscore.agents.models import Agent
from leadscore.core import audit, bulk
from leadscore.demo.fastcopy import insert_frame, update_frame
from leadscore.demo.world import DATASET, World
from leadscore.enrichment.models import Property
from leadscore.interactions.models import Interaction
from leadscore.leads.models import Lead, Outcome
from leadscore.routing.models import Assignment

Progress = Callable[[str, int], None]

AGENT_COLUMNS = ("name", "email", "phone", "team", "specialties", "languages", "territories", "capacity", "active")
PROPERTY_COLUMNS = (
    "address", "postcode", "city", "latitude", "longitude", "property_type", "price", "bedrooms", "bathrooms",
    "living_area_sqft", "lot_sqft", "year_built", "listing_status", "listed_at", "sold_at", "sold_price",
)


def _python(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _python(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _id_map(session: Session, model: type, dataset: str) -> dict[str, int]:
    rows = session.execute(select(model.external_id, model.id).where(model.dataset == dataset))
    return {external_id: id_ for external_id, id_ in rows}


def _reserve_ids(session: Session, table: str, count: int) -> np.ndarray:
    """Primary keys for rows we insert with explicit ids (safe with concurrent writers on PostgreSQL)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = connection.execute(
            text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"), {"n": count}
        )
        return np.array(sorted(r[0] for r in rows), dtype=np.int64)
    # SQLite: the deletes above already took the write lock, so max(id) cannot move under us.
    start = connection.execute(text(f'SELECT coalesce(max(id), 0) FROM "{table}"')).scalar_one()
    return np.arange(start + 1, start + 1 + count, dtype=np.int64)


def delete_demo(session: Session, dataset: str = DATASET) -> None:
    """Remove a demo dataset's leads and everything hanging off them (agents/properties are upserted)."""
    session.execute(delete(Interaction).where(Interaction.dataset == dataset), execution_options={"synchronize_session": False})
    session.execute(delete(Lead).where(Lead.dataset == dataset), execution_options={"synchronize_session": False})


def _json_pairs(pairs: list[tuple[str, Any, np.ndarray]], n: int) -> np.ndarray:
    """Build one JSON object per row from (key, present mask, JSON-encoded value) triples.

    Values are ASCII words, numbers and the like: nothing that needs escaping.
    """
    out = np.full(n, "", dtype=object)
    for key, present, value in pairs:
        value = np.broadcast_to(np.asarray(value, dtype=object), (n,))
        piece = np.where(present, np.where(out == "", "", ", ") + f'"{key}": ' + value, "")
        out = out + piece
    return "{" + out + "}"


def write_world(session: Session, world: World, progress: Progress | None = None, dataset: str = DATASET) -> dict[str, int]:
    tick = progress or (lambda _stage, _n: None)
    now = datetime.now(UTC).replace(tzinfo=None)
    now64 = np.datetime64(now, "us")

    delete_demo(session, dataset)
    tick("delete", 0)

    # Agents: upsert, then drop demo agents the new world does not have.
    agents = world.agents
    left = [{} if pd.isna(x) else {"left_at": x.isoformat()} for x in agents["left_at"]]
    agent_rows = _records(agents[["external_id", *AGENT_COLUMNS]].assign(dataset=dataset, attributes=left))
    bulk.upsert_rows(session, Agent.__table__, agent_rows, key=("dataset", "external_id"))
    session.execute(
        delete(Agent).where(Agent.dataset == dataset, Agent.external_id.not_in(list(agents["external_id"]))),
        execution_options={"synchronize_session": False},
    )
    agent_map = _id_map(session, Agent, dataset)
    agent_id = np.array([agent_map[e] for e in agents["external_id"]], dtype=np.int64)
    tick("agents", len(agents))

    # Properties: the same parcels every build; existing rows are updated in place so
    # their ids stay stable, new ones appended.
    props = world.properties
    property_map = _id_map(session, Property, dataset)
    frame = pd.DataFrame({c: props[c].to_numpy() for c in PROPERTY_COLUMNS})
    frame["attributes"] = _json_pairs(
        [("parcel", True, '"' + props["parcel"].to_numpy(dtype=object) + '"'),
         ("area", True, '"' + props["area"].to_numpy(dtype=object) + '"'),
         ("condition", True, props["condition"].astype(str).to_numpy(dtype=object)),
         ("grade", True, props["grade"].astype(str).to_numpy(dtype=object)),
         ("record_sale_date", True, '"' + props["record_sale_date"].to_numpy(dtype=object) + '"'),
         ("record_sale_price", True, props["record_sale_price"].map("{:.1f}".format).to_numpy(dtype=object)),
         ("market_factor", True, props["market_factor"].map("{:.4f}".format).to_numpy(dtype=object))],
        len(props),
    )
    known = props["external_id"].map(property_map)
    existing = known.notna().to_numpy()
    update_frame(session, Property.__table__, frame[existing].assign(id=known[existing].astype(np.int64).to_numpy()))
    insert_frame(session, Property.__table__, frame[~existing].assign(
        dataset=dataset, external_id=props["external_id"].to_numpy(dtype=object)[~existing], inserted_at=now64,
    ))
    session.execute(
        delete(Property).where(Property.dataset == dataset, Property.external_id.not_in(list(props["external_id"]))),
        execution_options={"synchronize_session": False},
    )
    property_map = _id_map(session, Property, dataset)
    property_id = np.array([property_map[e] for e in props["external_id"]], dtype=np.int64)
    tick("properties", len(props))

    # Leads, with explicit ids so the other tables can point at them without a round trip.
    leads = world.leads
    n = len(leads)
    lead_id = _reserve_ids(session, Lead.__tablename__, n)
    language = leads["preferred_language"].to_numpy(dtype=object)
    lead_attributes = _json_pairs(
        [("preferred_language", language != "en", '"' + language + '"'),
         ("first_time_buyer", leads["first_time_buyer"].to_numpy(dtype=bool), np.full(n, "true", dtype=object))],
        n,
    )
    lead_frame = pd.DataFrame(
        {
            "id": lead_id,
            "dataset": dataset,
            **{c: leads[c].to_numpy() for c in (
                "external_id", "first_name", "last_name", "email", "phone", "source", "channel", "created_at",
                "status", "intent", "property_type", "price_min", "price_max", "bedrooms", "address", "postcode",
                "city", "latitude", "longitude", "financing", "pre_approved", "timeline_months", "consent_email",
                "consent_sms", "consent_phone", "consent_profiling", "consent_updated_at",
            )},
            "attributes": lead_attributes,
            "agent_id": agent_id[leads["agent"].to_numpy()],
            "inserted_at": now64,
            "updated_at": now64,
        }
    )
    insert_frame(session, Lead.__table__, lead_frame)
    tick("leads", n)

    assignments = world.assignments
    insert_frame(session, Assignment.__table__, pd.DataFrame({
        "lead_id": lead_id[assignments["lead"].to_numpy()],
        "agent_id": agent_id[assignments["agent"].to_numpy()],
        "assigned_at": assignments["assigned_at"].to_numpy(),
        "ended_at": assignments["ended_at"].to_numpy(),
        "method": assignments["method"].to_numpy(dtype=object),
        "reason": assignments["reason"].to_numpy(dtype=object),
        "assigned_by": assignments["assigned_by"].to_numpy(dtype=object),
    }))
    tick("assignments", len(assignments))

    outcomes = world.outcomes
    prop_ext = props["external_id"].to_numpy(dtype=object)
    has_prop = outcomes["property"].to_numpy() >= 0
    insert_frame(session, Outcome.__table__, pd.DataFrame({
        "lead_id": lead_id[outcomes["lead"].to_numpy()],
        "result": outcomes["result"].to_numpy(dtype=object),
        "closed_at": outcomes["closed_at"].to_numpy(),
        "deal_value": outcomes["deal_value"].to_numpy(),
        "reason": outcomes["reason"].to_numpy(dtype=object),
        "attributes": np.where(
            has_prop, '{"property_external_id": "' + prop_ext[np.maximum(outcomes["property"].to_numpy(), 0)] + '"}', "{}"
        ),
        "recorded_at": outcomes["closed_at"].to_numpy(),
    }))
    tick("outcomes", len(outcomes))

    inter = world.interactions
    agent_ref = inter["agent"].to_numpy()
    prop_ref = inter["prop"].to_numpy()
    chunk = 200_000
    for begin in range(0, len(inter), chunk):
        part = slice(begin, begin + chunk)
        insert_frame(session, Interaction.__table__, pd.DataFrame({
            "dataset": dataset,
            "external_id": inter["external_id"].to_numpy()[part],
            "lead_id": lead_id[inter["lead"].to_numpy()[part]],
            "type": inter["type"].to_numpy()[part],
            "occurred_at": inter["occurred_at"].to_numpy()[part],
            "channel": inter["channel"].to_numpy()[part],
            "direction": inter["direction"].to_numpy()[part],
            "agent_id": np.where(agent_ref[part] >= 0, agent_id[np.maximum(agent_ref[part], 0)], np.nan),
            "property_id": np.where(prop_ref[part] >= 0, property_id[np.maximum(prop_ref[part], 0)], np.nan),
            "metadata": inter["meta"].to_numpy()[part],
            "inserted_at": now64,
        }))
        tick("interactions", min(chunk, len(inter) - begin))

    counts = {
        "agents": len(agents),
        "properties": len(props),
        "leads": n,
        "interactions": len(inter),
        "assignments": len(assignments),
        "outcomes": len(outcomes),
    }
    audit.record(
        session, actor="leadscore demo", action="demo.build", entity_type="dataset", entity_id=dataset,
        details={"seed": world.seed, "leads": world.n_leads, "end": world.end.date().isoformat(), **counts},
    )
    session.flush()
    return counts


def count_rows(session: Session, dataset: str = DATASET) -> dict[str, int]:
    """Rows of a dataset per table (for summaries and tests)."""
    leads = select(Lead.id).where(Lead.dataset == dataset)
    return {
        "agents": session.scalar(select(func.count()).select_from(Agent).where(Agent.dataset == dataset)),
        "properties": session.scalar(select(func.count()).select_from(Property).where(Property.dataset == dataset)),
        "leads": session.scalar(select(func.count()).select_from(Lead).where(Lead.dataset == dataset)),
        "interactions": session.scalar(
            select(func.count()).select_from(Interaction).where(Interaction.dataset == dataset)
        ),
        "assignments": session.scalar(
            select(func.count()).select_from(Assignment).where(Assignment.lead_id.in_(leads))
        ),
        "outcomes": session.scalar(select(func.count()).select_from(Outcome).where(Outcome.lead_id.in_(leads))),
    }
