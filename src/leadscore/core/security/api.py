"""``/v1/keys``: create, list and revoke API keys; read usage. Admin only, except ``/me``."""

from __future__ import annotations

from typing import Annotated

from fastapi import BackgroundTasks, Path, Query, Request, Response, status

from leadscore.core.deps import SessionDep, SettingsDep
from leadscore.core.routes import router as api_router
from leadscore.core.security import keys, usage
from leadscore.core.security.auth import AdminKey, AnyKey, get_guard
from leadscore.core.security.models import ApiKey
from leadscore.core.security.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    ProblemDetail,
    UsageEntry,
    UsageReport,
)

router = api_router(prefix="/keys", tags=["keys"])

KeyId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The key's id.", examples=[7])]
Days = Annotated[int, Query(ge=1, le=366, description="UTC days back, today included.", examples=[30])]
NOT_FOUND = {404: {"model": ProblemDetail, "description": "No key with this id."}}


def _as_read(row: ApiKey) -> dict[str, object]:
    data = {name: getattr(row, name) for name in ApiKeyRead.model_fields if name != "status"}
    data["status"] = keys.key_status(row)
    return data


def _usage(request: Request, session: SessionDep, row: ApiKey, days: int) -> UsageReport:
    by_day = get_guard(request).usage.read(session, row.id, days=days)
    entries = [UsageEntry(day=d, route=r, status_class=c, requests=n) for d, r, c, n in usage.flatten(by_day)]
    return UsageReport(key_id=row.id, prefix=row.prefix, name=row.name, days=days,
                       total=usage.totals(by_day), entries=entries)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    summary="Create an API key (admin).",
    description="Returns the key's secret once; only an HMAC of it is stored. Scopes: read; write "
    "(implies read); score (stateless scoring only); admin (implies all).",
)
def create_key(body: ApiKeyCreate, principal: AdminKey, session: SessionDep, settings: SettingsDep,
               response: Response) -> ApiKeyCreated:
    created = keys.create_key(
        session, settings, name=body.name, scopes=[s.value for s in body.scopes], rate_limit=body.rate_limit,
        expires_in_days=body.expires_in_days, created_by=f"key:{principal.key_id}",
    )
    response.headers["Cache-Control"] = "no-store"
    return ApiKeyCreated(**_as_read(created.row), key=created.key)


@router.get("", response_model=list[ApiKeyRead], summary="List API keys (admin).",
            description="Every key with its scopes, limits and dates; never a secret or hash.")
def list_keys(
    _principal: AdminKey,
    session: SessionDep,
    include_revoked: Annotated[bool, Query(description="Also list revoked keys.")] = True,
) -> list[ApiKeyRead]:
    return [ApiKeyRead(**_as_read(row)) for row in keys.list_keys(session, include_revoked=include_revoked)]


@router.get("/me", response_model=ApiKeyRead, summary="The key making this request.",
            description="Any valid key may read its own record.")
def read_me(principal: AnyKey, session: SessionDep) -> ApiKeyRead:
    return ApiKeyRead(**_as_read(keys.get_key(session, principal.key_id)))


@router.get("/me/usage", response_model=UsageReport, summary="Usage of the key making this request.",
            description="Completed requests per UTC day, route and status class: flushed counts plus this "
            "server's pending ones.")
def read_my_usage(request: Request, principal: AnyKey, session: SessionDep, days: Days = 30) -> UsageReport:
    return _usage(request, session, keys.get_key(session, principal.key_id), days)


@router.get("/{key_id:int}", response_model=ApiKeyRead, responses=NOT_FOUND, summary="One API key (admin).",
            description="A key's record; never its secret or hash.")
def read_key(key_id: KeyId, _principal: AdminKey, session: SessionDep) -> ApiKeyRead:
    return ApiKeyRead(**_as_read(keys.get_key(session, key_id)))


@router.get("/{key_id:int}/usage", response_model=UsageReport, responses=NOT_FOUND,
            summary="Usage of any key (admin).", description="As /v1/keys/me/usage, for the key given.")
def read_key_usage(request: Request, key_id: KeyId, _principal: AdminKey, session: SessionDep,
                   days: Days = 30) -> UsageReport:
    return _usage(request, session, keys.get_key(session, key_id), days)


@router.delete(
    "/{key_id:int}",
    response_model=ApiKeyRead,
    responses=NOT_FOUND,
    summary="Revoke an API key (admin).",
    description="The key stops working at once on this server and within LEADSCORE_KEY_CACHE_SECONDS "
    "everywhere else. Idempotent; the record and its usage are kept.",
)
def revoke_key(request: Request, key_id: KeyId, principal: AdminKey, session: SessionDep,
               background: BackgroundTasks) -> ApiKeyRead:
    row = keys.revoke_key(session, key_id, actor=f"key:{principal.key_id}")
    cache = get_guard(request).cache
    cache.invalidate(key_id)
    # Again after the commit, in case a concurrent request re-cached the key in between.
    background.add_task(cache.invalidate, key_id)
    return ApiKeyRead(**_as_read(row))
