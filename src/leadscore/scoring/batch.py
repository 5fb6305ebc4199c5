"""Batch scoring: rescore a dataset's leads in the database, or score a file without storing it.

Both work in chunks so memory stays bounded whatever the size.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from leadscore.core import metrics, outbox
from leadscore.core.database import session_scope, utcnow
from leadscore.core.errors import LeadscoreError
from leadscore.core.types import EVENT_RANGE, check_event_time
from leadscore.insights import predictions
from leadscore.insights.tasks import request_refresh
from leadscore.interactions.frames import interactions_frame
from leadscore.interactions.models import Interaction
from leadscore.leads.frames import leads_frame
from leadscore.leads.models import Lead
from leadscore.registry import service as registry
from leadscore.scoring import service
from leadscore.scoring.service import ScoreRecord

Progress = Callable[[int, int], None]


class NoModel(LeadscoreError):
    pass


@dataclass
class BatchSummary:
    scored: int = 0
    shadow_models: int = 0
    skipped_no_consent: int = 0
    changed: int = 0
    model_version: int | None = None
    model_kind: str = ""


def _now_naive() -> np.datetime64:
    return np.datetime64(utcnow().replace(tzinfo=None), "ns")


def records_from_frame(scored: pd.DataFrame) -> list[ScoreRecord]:
    columns = [scored[c].tolist() for c in ("lead_id", "probability", "score", "grade", "base_score",
                                             "top_positive", "top_negative")]
    return [
        ScoreRecord(lead_id=int(lead_id), probability=float(p), score=int(round(score)), grade=str(grade),
                    reasons={"base_score": float(base), "top_positive": list(pos), "top_negative": list(neg)})
        for lead_id, p, score, grade, base, pos, neg in zip(*columns, strict=True)
    ]


RESCORED_TOPIC = "scores.rescored"
# The stored scores of a dataset's open leads are its old champion's after a promotion: rescored in
# steps of STEP_LEADS, each step enqueueing the next in its own transaction (so a process that dies
# resumes from the last step it committed) and each a short write (SQLite has one writer: the
# real-time path's writes go between steps, not after the whole dataset).
OPEN_RESCORE_TOPIC = "scores.rescore_open"
STEP_LEADS = 1_000
CLOSED = ("won", "lost")
Load = Callable[[Session, int], Any]  # (session, model version id) -> the version's model


@dataclass
class ChunkScores:
    """What ``score_chunk`` computed for some leads; ``store_chunk`` writes it."""

    records: list[ScoreRecord]
    shadows: list[tuple[int, list[ScoreRecord]]]  # (challenger version id, its scores)
    forecasts: predictions.Forecasts


def score_chunk(session: Session, *, dataset: str, ids: list[int], model: Any,
                challengers: list[tuple[int, Any]], forecasters: Any) -> ChunkScores:
    """Score ``ids`` with the champion (and challengers, in shadow) and forecast them; reads only."""
    leads = leads_frame(session, dataset=dataset, lead_ids=ids)
    interactions = interactions_frame(session, dataset=dataset, lead_ids=ids)
    present = interactions if len(interactions) else None
    scored = model.score(leads, present, as_of=_now_naive())
    # Challengers score the same leads in shadow: stored, compared, never shown as current.
    shadows = [(challenger_id, records_from_frame(challenger.score(leads, present, as_of=_now_naive())))
               for challenger_id, challenger in challengers]
    forecasts = predictions.forecast(session, dataset=dataset, lead_ids=ids, champions=forecasters, leads=leads,
                                     interactions=interactions,
                                     probabilities=dict(zip(scored["lead_id"], scored["probability"], strict=True)))
    return ChunkScores(records_from_frame(scored), shadows, forecasts)


def store_chunk(session: Session, chunk: ChunkScores, *, version_id: int, min_delta: int) -> int:
    """Write ``chunk`` and queue ``score.changed`` for its notable changes; returns how many."""
    changes = service.store(session, chunk.records, model_version_id=version_id)
    metrics.scores_computed(len(chunk.records))
    predictions.store(session, chunk.forecasts)
    for challenger_id, records in chunk.shadows:
        service.store(session, records, model_version_id=challenger_id, shadow=True)
    notable = [c for c in service.notable_changes(changes, min_delta) if c.previous_score is not None]
    if notable:
        reasons = {r.lead_id: r.reasons for r in chunk.records}
        rows = session.execute(select(Lead.id, Lead.external_id, Lead.dataset)
                               .where(Lead.id.in_([c.lead_id for c in notable]))).all()
        leads = {row.id: row for row in rows}
        for change in notable:
            lead = leads[change.lead_id]
            outbox.enqueue(session, "score.changed", service.change_event(
                change, external_id=lead.external_id, dataset=lead.dataset, reasons=reasons[change.lead_id]))
    return len(notable)


def rescore_dataset(
    sessions: sessionmaker[Session],
    *,
    dataset: str,
    chunk: int = 20_000,
    min_delta: int = 5,
    open_only: bool = False,
    progress: Progress | None = None,
) -> BatchSummary:
    """Rescore every lead of a dataset with its champion; commits once per chunk."""
    with session_scope(sessions) as session:
        champion = registry.get_champion(session, dataset=dataset)
        if champion is None:
            raise NoModel(f"dataset {dataset!r} has no champion model: run `leadscore train --dataset {dataset}`")
        artifact = registry.load_model(session, champion)
        challengers = [(c.id, registry.load_model(session, c).model)
                       for c in registry.get_challengers(session, dataset=dataset)]
        forecasters = predictions.load_champions(session, dataset=dataset)
        conditions = [Lead.dataset == dataset]
        if open_only:
            conditions.append(Lead.status.not_in(CLOSED))
        ids = list(session.scalars(select(Lead.id).where(*conditions, Lead.consent_profiling.is_(True)).order_by(Lead.id)))
        opted_out = session.scalar(select(func.count()).select_from(Lead).where(
            *conditions, Lead.consent_profiling.is_(False))) or 0
        version_id, version_number = champion.id, champion.version
    model = artifact.model
    summary = BatchSummary(skipped_no_consent=opted_out, model_version=version_number, model_kind=model.kind,
                           shadow_models=len(challengers))
    for start in range(0, len(ids), chunk):
        batch = ids[start : start + chunk]
        with session_scope(sessions) as session:
            scores = score_chunk(session, dataset=dataset, ids=batch, model=model, challengers=challengers,
                                 forecasters=forecasters)
            summary.changed += store_chunk(session, scores, version_id=version_id, min_delta=min_delta)
            if start + chunk >= len(ids):
                # With the last chunk: whichever process dispatches the outbox (the API server or a
                # worker, never this command) drops its cached scores and recomputes the dashboard
                # statistics, so neither serves the scores this run replaced.
                outbox.enqueue(session, RESCORED_TOPIC, {"dataset": dataset, "scored": len(ids)})
                request_refresh(session, dataset)
        summary.scored += len(batch)
        if progress:
            progress(summary.scored, len(ids))
    return summary


def start_open_rescoring(session: Session, *, dataset: str, version_id: int, since: str | None = None) -> None:
    """Queue the first step of ``rescore_open_step`` in the caller's transaction (``since``: ISO time)."""
    outbox.enqueue(session, OPEN_RESCORE_TOPIC, _step(dataset, version_id, 0, 0, since))


def _step(dataset: str, version_id: int, after_id: int, scored: int, since: str | None) -> dict[str, Any]:
    """The payload of one ``OPEN_RESCORE_TOPIC`` message."""
    return {"dataset": dataset, "model_version_id": version_id, "after_id": after_id, "scored": scored,
            **({"since": since} if since is not None else {})}


def rescore_open_step(sessions: sessionmaker[Session], *, dataset: str, version_id: int, after_id: int,
                      scored: int, load: Load, min_delta: int, step: int = STEP_LEADS,
                      since: datetime | None = None) -> list[int] | None:
    """One step of rescoring ``dataset``'s open leads after ``version_id`` was promoted (or, given
    ``since``, the open leads an import changed since then: the lead itself, or its interactions).

    Scores the next ``step`` open leads (with consent to profiling) after ``after_id`` in a read
    transaction, then writes them and enqueues the next step in a short write transaction; after
    the last lead it enqueues ``scores.rescored`` (caches dropped and warmed, dashboard
    statistics refreshed). A lead the real-time path rescored in between keeps that newer score.
    Returns the ids whose scores were written, or None once ``version_id`` is no longer the
    champion (a later promotion runs its own rescoring).
    """
    with session_scope(sessions, write=False) as session:
        champion = _champion_if(session, dataset, version_id)
        if champion is None:
            return None
        read_at = utcnow()
        # A lead scored since the promotion (or the import) was scored by this champion with that
        # data (by `leadscore score`, or by the real-time path): skipped, so a promotion followed
        # by a batch run costs nothing here.
        start = since or champion.promoted_at
        wanted = [or_(Lead.scored_at.is_(None), Lead.scored_at < start)] if start is not None else []
        if since is not None:
            new_interactions = select(Interaction.lead_id).where(Interaction.dataset == dataset,
                                                                 Interaction.inserted_at >= since)
            wanted.append(or_(Lead.updated_at >= since, Lead.inserted_at >= since, Lead.id.in_(new_interactions)))
        ids = list(session.scalars(select(Lead.id).where(
            Lead.dataset == dataset, Lead.status.not_in(CLOSED), Lead.consent_profiling.is_(True),
            Lead.id > after_id, *wanted).order_by(Lead.id).limit(step)))
        if ids:
            challengers = [(c.id, load(session, c.id)) for c in registry.get_challengers(session, dataset=dataset)]
            forecasters = predictions.load_champions(session, dataset=dataset,
                                                     load=lambda other_id: load(session, other_id))
            scores = score_chunk(session, dataset=dataset, ids=ids, model=load(session, version_id),
                                 challengers=challengers, forecasters=forecasters)
    with session_scope(sessions) as session:
        if _champion_if(session, dataset, version_id) is None:
            return None
        if not ids:
            outbox.enqueue(session, RESCORED_TOPIC, {"dataset": dataset, "scored": scored})
            request_refresh(session, dataset)
            return []
        newer = set(session.scalars(select(Lead.id).where(Lead.id.in_(ids), Lead.scored_at > read_at)))
        if newer:
            scores.records = [r for r in scores.records if r.lead_id not in newer]
            scores.forecasts.rows = [r for r in scores.forecasts.rows if r["lead_id"] not in newer]
        store_chunk(session, scores, version_id=version_id, min_delta=min_delta)
        outbox.enqueue(session, OPEN_RESCORE_TOPIC, _step(dataset, version_id, ids[-1], scored + len(ids),
                                                          since.isoformat() if since is not None else None))
    return [lead_id for lead_id in ids if lead_id not in newer]


def _champion_if(session: Session, dataset: str, version_id: int) -> Any:
    """``dataset``'s champion if it is still ``version_id``, else None."""
    champion = registry.get_champion(session, dataset=dataset)
    return champion if champion is not None and champion.id == version_id else None


def _read_chunks(path: Path, chunk: int) -> Iterator[pd.DataFrame]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        yield from pd.read_json(path, lines=True, chunksize=chunk, dtype=False)
    elif suffix == ".csv" or suffix == ".txt":
        yield from pd.read_csv(path, chunksize=chunk, dtype=str, keep_default_na=False, na_values=[""])
    else:
        raise LeadscoreError(f"{path}: unknown file type {suffix!r}; use .csv or .jsonl")


def score_file(
    path: Path,
    out: Path,
    model: Any,
    *,
    id_column: str | None = None,
    chunk: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Score every row of a CSV / JSON Lines file into ``out`` (CSV); nothing is stored.

    ``out`` appears only complete: it is written beside, under a ``.part`` name, and put in
    place at the end, so a file that fails half-way (a row with an unreadable ``created_at``)
    leaves an earlier ``out`` as it was.
    """
    if not path.is_file():
        raise LeadscoreError(f"{path}: no such file")
    partial = out.with_name(out.name + ".part")
    try:
        written = _score_into(path, partial, model, id_column, chunk, progress)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return written


def _score_into(path: Path, out: Path, model: Any, id_column: str | None, chunk: int,
                progress: Callable[[int], None] | None) -> int:
    written = 0
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "id", "probability", "score", "grade", "reasons_positive", "reasons_negative"])
        for frame in _read_chunks(path, chunk):
            if id_column and id_column not in frame.columns:
                raise LeadscoreError(f"{path}: no column {id_column!r}; columns are {', '.join(map(str, frame.columns))}")
            frame = frame.reset_index(drop=True)
            ids = frame[id_column].astype(str).tolist() if id_column else [""] * len(frame)
            leads = frame.copy()
            leads.insert(0, "lead_id", np.arange(written, written + len(frame)))
            if "created_at" in leads:
                leads["created_at"] = _created_at(leads["created_at"], path, first_row=written + 1)
            scored = model.score(leads, None, as_of=_now_naive())
            writer.writerows(zip(
                range(written + 1, written + len(frame) + 1), ids,
                [f"{p:.6f}" for p in scored["probability"].tolist()],
                [int(round(v)) for v in scored["score"].tolist()],
                scored["grade"].tolist(),
                _sentence_lists(scored["top_positive"]), _sentence_lists(scored["top_negative"]),
                strict=True,
            ))
            written += len(frame)
            metrics.scores_computed(len(frame))
            if progress:
                progress(written)
    return written


def _created_at(values: pd.Series, path: Path, *, first_row: int) -> pd.Series:
    """A file's ``created_at`` column as naive UTC times, empty cells missing.

    A value that is not a date-time, or lies outside the range the models read, stops the file
    with its row (as the output numbers them) and why, as an import reports it: coercing it to
    "missing" scored the lead as if its age were unknown without a word. ISO 8601 is read in one
    pass; what it misses (another format than the column's first) is read value by value.
    """
    if pd.api.types.is_datetime64_any_dtype(values):  # read as dates already (pandas < 3 reading JSON)
        present = values.notna()
        times = pd.Series(list(pd.to_datetime(values, utc=True)), index=values.index, dtype=object)
    else:
        present = values.map(_given)
        text = values.where(present & values.map(lambda v: isinstance(v, str)))
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
        missed = text.notna() & parsed.isna()
        if missed.any():
            parsed = parsed.astype(object)
            parsed[missed] = list(pd.to_datetime(text[missed], errors="coerce", utc=True, format="mixed"))
        times = pd.Series(list(parsed), index=values.index, dtype=object)
    for position in np.flatnonzero(present.to_numpy()):
        value, time = values.iloc[position], times.iloc[position]
        if pd.isna(time):
            reason = (f"{value!r} is not a date-time (e.g. 2024-01-31T09:30:00Z)" if isinstance(value, str)
                      else "must be an ISO 8601 date-time string, e.g. 2024-01-31T09:30:00Z")
        else:
            try:
                check_event_time(time)  # the range the API and imports hold times to
                continue
            except ValueError:
                reason = f"{str(value)!r} is not {EVENT_RANGE}"
        raise LeadscoreError(f"{path}: row {first_row + position}, created_at: {reason}")
    return pd.to_datetime(times, utc=True).dt.tz_localize(None)


def _given(value: Any) -> bool:
    """False for an empty cell: None, NaN or NA, or blank text."""
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, dict)):
        return True  # given, and refused as not a date-time string
    return not (value is None or pd.isna(value))


def _sentence_lists(reasons: pd.Series) -> list[str]:
    """Each row's reason sentences as a JSON list (the file output has no points or feature names)."""
    dumps = json.dumps
    return [dumps([r["sentence"] for r in row]) for row in reasons.tolist()]
