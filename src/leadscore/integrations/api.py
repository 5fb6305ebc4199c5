"""/v1/bulk: upload a CSV or JSON Lines file of any size, get a job id, poll it, download the result.

The upload is streamed to ``LEADSCORE_HOME/bulk/<token>/`` (never held in
memory; ``LEADSCORE_BULK_MAX_BYTES`` bounds it, 413 beyond) as a raw body
(``application/octet-stream``, ``text/csv``, ``application/x-ndjson``) or as
the ``file`` part of a multipart form. The work runs in the background
(``integrations.jobs``) and survives restarts.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from leadscore.core.database import session_scope
from leadscore.core.deps import RuntimeDep, SessionDep
from leadscore.core.problems import Conflict, NotFound, Problem
from leadscore.core.routes import hand_to_thread
from leadscore.core.routes import router as api_router
from leadscore.core.security import Principal, ReadKey, WriteKey
from leadscore.core.security.schemas import ProblemDetail
from leadscore.integrations import jobs
from leadscore.integrations.models import BulkJob
from leadscore.integrations.schemas import DATASET_PATTERN, OPTION_MODELS

router = api_router(prefix="/bulk", tags=["bulk"])

Dataset = Annotated[str, Query(min_length=1, max_length=64, pattern=DATASET_PATTERN,
                               description="Dataset (and, for scoring, whose champion model scores).")]
Column = Annotated[str | None, Query(min_length=1, max_length=200)]
Format = Annotated[Literal["csv", "jsonl"] | None, Query(description="Default: from the file name or content type.")]
Names = Annotated[list[str] | None, Query(max_length=50)]
JobId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Bulk job id.")]
RAW_TYPES = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
             "application/x-jsonlines": "jsonl", "application/octet-stream": None}
UPLOAD_BODY = {"requestBody": {"required": True, "description": "The file: raw (octet-stream, text/csv, "
               "application/x-ndjson) or the `file` part of a multipart form.", "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"},
                                 "example": "id,source,price_max\ncrm-1,zillow,650000\n"},
}}}
ACCEPT_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"model": ProblemDetail, "description": "The dataset has no champion model (scoring only)."},
    413: {"model": ProblemDetail, "description": "The file is larger than LEADSCORE_BULK_MAX_BYTES."},
    415: {"model": ProblemDetail, "description": "Not a file upload (unsupported content type)."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ProblemDetail, "description": "No such bulk job."}}
_JOB_EXAMPLE = {"id": 7, "kind": "score", "dataset": "default", "status": "running", "rows_processed": 15000,
                "rows_total": 120000, "rows_failed": 0, "error_summary": None, "result_url": None,
                "input_bytes": 18874368, "created_at": "2026-05-02T10:00:00Z", "started_at": "2026-05-02T10:00:01Z",
                "finished_at": None}


class BulkJobRead(BaseModel):
    """A bulk job's state; `rows_total` is estimated from the line count until the job ends."""

    model_config = ConfigDict(json_schema_extra={"examples": [_JOB_EXAMPLE]})

    id: int
    kind: Literal["score", "leads", "interactions", "agents", "outcomes", "properties"]
    dataset: str
    status: Literal["queued", "running", "succeeded", "failed"]
    rows_processed: int
    rows_total: int | None
    rows_failed: int
    error_summary: str | None
    result_url: str | None
    input_bytes: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: BulkJob) -> BulkJobRead:
        ready = job.status == "succeeded" and job.result_path is not None
        return cls(id=job.id, kind=job.kind, dataset=job.dataset, status=job.status,  # type: ignore[arg-type]
                   rows_processed=job.rows_processed, rows_total=job.rows_total, rows_failed=job.rows_failed,
                   error_summary=job.error_summary, result_url=f"/v1/bulk/{job.id}/result" if ready else None,
                   input_bytes=job.input_bytes, created_at=job.created_at, started_at=job.started_at,
                   finished_at=job.finished_at)


def _actor(principal: Principal) -> str:
    return f"apikey:{principal.prefix}"


async def _receive(request: Request, directory: FilePath, fmt: str | None, limit: int) -> tuple[FilePath, int, int]:
    """Stream the upload to ``directory``; returns (path, bytes, estimated data rows)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Problem(413, f"the upload is {int(declared):,} bytes; the limit is {limit:,} (LEADSCORE_BULK_MAX_BYTES)")
    content_type = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip().lower()
    directory.mkdir(parents=True, exist_ok=True)
    if content_type == "multipart/form-data":
        return await _receive_form(request, directory, fmt, limit)
    if content_type not in RAW_TYPES:
        raise Problem(415, f"content type {content_type!r} is not a file upload; send application/octet-stream, "
                      "text/csv, application/x-ndjson or multipart/form-data")
    fmt = fmt or RAW_TYPES[content_type] or "csv"
    path = directory / f"input.{fmt}"
    size = lines = 0
    last = b"\n"
    with path.open("wb") as handle:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Problem(413, f"the upload exceeds the limit of {limit:,} bytes (LEADSCORE_BULK_MAX_BYTES)")
            if chunk:
                handle.write(chunk)
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    return path, size, _rows(lines + (last != b"\n"), fmt)


async def _receive_form(request: Request, directory: FilePath, fmt: str | None, limit: int) -> tuple[FilePath, int, int]:
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException

    try:  # Starlette spools file parts to disk beyond 1 MiB
        form = await request.form(max_files=1, max_fields=10)
    except MultiPartException as exc:
        raise Problem(400, f"the multipart body cannot be parsed: {exc.message}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise Problem(422, "the multipart form needs a 'file' part holding the file",
                      errors=[{"field": "body.file", "message": "Field required", "type": "missing"}])
    name = (upload.filename or "").lower()
    fmt = fmt or ("jsonl" if name.endswith((".jsonl", ".ndjson")) else "csv")
    path = directory / f"input.{fmt}"

    def copy() -> tuple[int, int, bytes]:
        size = lines = 0
        last = b"\n"
        upload.file.seek(0)
        with path.open("wb") as handle:
            while chunk := upload.file.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise Problem(413, f"the upload exceeds the limit of {limit:,} bytes (LEADSCORE_BULK_MAX_BYTES)")
                handle.write(chunk)
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        return size, lines, last

    try:
        size, lines, last = await hand_to_thread(copy)
    finally:
        await form.close()
    return path, size, _rows(lines + (last != b"\n"), fmt)


def _rows(lines: int, fmt: str) -> int:
    return max(0, lines - 1) if fmt == "csv" else lines


async def _accept(request: Request, runtime: Any, principal: Principal, *, kind: str, dataset: str,
                  options: dict[str, Any], fmt: str | None) -> BulkJobRead:
    """Receive the file, then record the job in one short transaction of this request.

    No transaction is open while the body streams in: on SQLite a write
    transaction would hold the database's write lock for the whole upload.
    """
    settings = runtime.settings
    directory = jobs.bulk_root(settings) / uuid.uuid4().hex
    try:
        path, size, rows = await _receive(request, directory, fmt, settings.bulk_max_bytes)
        if size == 0:
            raise Problem(422, "the uploaded file is empty", errors=[{"field": "body", "message": "empty file"}])
        if kind != "score":
            options = {**options, "format": path.suffix.lstrip(".")}

        def record() -> BulkJobRead:
            with session_scope(runtime.sessions) as session:
                return BulkJobRead.of(jobs.create(session, kind=kind, dataset=dataset, options=options,
                                                  input_path=path, input_bytes=size, rows_total=rows,
                                                  actor=_actor(principal)))

        created = await hand_to_thread(record)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    notify = getattr(request.app.state, "notify_outbox", None)
    if notify is not None:  # committed: wake the dispatcher now rather than on its next sweep
        notify()
    return created


def _has_champion(runtime: Any, dataset: str) -> bool:
    from leadscore.registry import service as registry

    with session_scope(runtime.sessions, write=False) as session:
        return registry.get_champion(session, dataset=dataset) is not None


@router.post("/score", status_code=status.HTTP_202_ACCEPTED, summary="Score a file in the background",
             description="Upload a CSV or JSON Lines file of leads (any size up to LEADSCORE_BULK_MAX_BYTES); each "
             "row is scored with the dataset's champion and nothing is stored but the scored CSV. Returns the job "
             "at once; poll `GET /v1/bulk/{job_id}` and download `result_url`.",
             openapi_extra=UPLOAD_BODY, responses=ACCEPT_RESPONSES)
async def bulk_score(request: Request, runtime: RuntimeDep, principal: WriteKey,
                     dataset: Dataset = "default", id_column: Column = None, format: Format = None) -> BulkJobRead:
    if not await hand_to_thread(_has_champion, runtime, dataset):
        raise Conflict(f"dataset {dataset!r} has no champion model yet; train one first")
    return await _accept(request, runtime, principal, kind="score", dataset=dataset,
                         options={"id_column": id_column}, fmt=format)


@router.post("/import/{kind}", status_code=status.HTTP_202_ACCEPTED, summary="Import a file in the background",
             description="The same importers and options as `leadscore import KIND` (lookup joins excepted): "
             "rows are upserted by their natural key, so a job that is run again after a crash does not duplicate. "
             "Rejected rows go to the error report, downloadable at `result_url` when the job ends.",
             openapi_extra=UPLOAD_BODY, responses={k: v for k, v in ACCEPT_RESPONSES.items() if k != 409})
async def bulk_import(
    request: Request, runtime: RuntimeDep, principal: WriteKey,
    kind: Annotated[Literal["leads", "interactions", "agents", "outcomes", "properties"], Path()],
    dataset: Dataset = "default",
    id_column: Column = None,
    map: Annotated[list[str] | None, Query(max_length=100, description="field=column, repeatable.")] = None,
    format: Format = None,
    delimiter: Annotated[str | None, Query(min_length=1, max_length=1)] = None,
    encoding: Annotated[str, Query(min_length=1, max_length=40)] = "utf-8",
    na_values: Names = None,
    exclude: Names = None,
    auto_map: bool = True,
    day_first: bool = False,
    created_at: Column = None,
    target: Column = None,
    agent: Column = None,
    positive: Names = None,
    negative: Names = None,
    closed_at: Column = None,
    value: Column = None,
    lead_id: Column = None,
    result: Literal["won", "lost"] | None = None,
    result_column: Column = None,
    others: Literal["lost"] | None = None,
) -> BulkJobRead:
    given = {"created_at": created_at, "target": target, "agent": agent, "positive": positive,
             "negative": negative, "closed_at": closed_at, "value": value, "lead_id": lead_id, "result": result,
             "result_column": result_column, "others": others}
    model = OPTION_MODELS[kind]
    unknown = [name for name, v in given.items() if v is not None and name not in model.model_fields]
    if unknown:
        raise Problem(422, f"{kind} imports do not take {', '.join(unknown)}",
                      errors=[{"field": f"query.{n}", "message": f"not an option of {kind} imports"} for n in unknown])
    values: dict[str, Any] = {"dataset": dataset, "id_column": id_column, "mapping": _mapping(map), "format": format,
                              "delimiter": delimiter, "encoding": encoding, "na_values": na_values or [],
                              "exclude": exclude or [], "auto_map": auto_map, "day_first": day_first}
    values.update({k: v for k, v in given.items() if v is not None})
    try:
        options = model(**values)
    except ValidationError as exc:
        errors = [{"field": ".".join(["query", *map_loc(e["loc"])]) if e["loc"] else "query",
                   "message": str(e["msg"]).removeprefix("Value error, "), "type": e["type"]} for e in exc.errors()]
        raise Problem(422, "invalid import options: " + "; ".join(e["message"] for e in errors), errors=errors) from None
    return await _accept(request, runtime, principal, kind=kind, dataset=dataset,
                         options=options.model_dump(mode="json"), fmt=format)


def map_loc(loc: tuple[Any, ...]) -> list[str]:
    return [("map" if str(p) == "mapping" else str(p)) for p in loc[:1]]


def _mapping(items: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items or []:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise Problem(422, f"map {item!r}: expected field=column",
                          errors=[{"field": "query.map", "message": "expected field=column, e.g. source=Lead Source"}])
        mapping[field.strip()] = column.strip()
    return mapping


def _job(session: Any, job_id: int) -> BulkJob:
    job = session.get(BulkJob, job_id)
    if job is None:
        raise NotFound(f"bulk job {job_id} does not exist")
    return job


@router.get("/{job_id:int}", summary="A bulk job's status and progress", responses=NOT_FOUND,
            description="`queued`, `running` (with `rows_processed`, updated every few thousand rows), "
            "`succeeded` (with `result_url`) or `failed` (with `error_summary`).")
def get_bulk_job(job_id: JobId, session: SessionDep, principal: ReadKey) -> BulkJobRead:
    return BulkJobRead.of(_job(session, job_id))


@router.get("/{job_id:int}/result", summary="Download a bulk job's result", response_class=FileResponse,
            description="Streams the scored CSV (row, id, probability, score, grade, reasons) of a scoring job, "
            "or the error report (line, column, value, reason) of an import.",
            responses={200: {"description": "The CSV file.", "content": {"text/csv": {
                "schema": {"type": "string"},
                "example": "row,id,probability,score,grade,reasons_positive,reasons_negative\n"
                           "1,crm-1,0.412000,41,B,\"[\"\"Pre-approved\"\"]\",\"[]\"\n"}}},
                       **NOT_FOUND, 409: {"model": ProblemDetail, "description": "The job has not succeeded."}})
def get_bulk_result(job_id: JobId, session: SessionDep, principal: ReadKey) -> FileResponse:
    job = _job(session, job_id)
    path = FilePath(job.result_path or "")
    if job.status != "succeeded" or not path.is_file():
        raise Conflict(f"bulk job {job_id} is {job.status}: no result to download"
                       + (f" ({job.error_summary})" if job.error_summary else ""))
    name = f"bulk-{job_id}-{'scores' if job.kind == 'score' else 'errors'}.csv"
    return FileResponse(path, media_type="text/csv", filename=name)
