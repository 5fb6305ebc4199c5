"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadscore.core.errors import LeadscoreError

PROBLEM_JSON = "application/problem+json"


class Problem(LeadscoreError):
    """Raise from services or routers to answer with a specific status and detail."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str = "about:blank",
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type = type_
        self.errors = errors
        self.headers = headers


class NotFound(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(404, detail)


class Conflict(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(409, detail)


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = problem_document(status, detail, request.url.path, title=title, type_=type_, errors=errors)
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_document(status: int, detail: str, instance: str, *, title: str | None = None,
                     type_: str = "about:blank", errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        # Every field error has the same shape (field, message, type), whoever raised it.
        body["errors"] = [{"type": "value_error", **error} for error in errors]
    return body


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        errors.append(
            {
                # e.g. "body.price_max" or "query.limit": where the bad value was.
                "field": ".".join(location),
                "message": error.get("msg", "invalid value"),
                "type": error.get("type", "value_error"),
            }
        )
    return errors


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            request, exc.status, exc.detail, title=exc.title, type_=exc.type, errors=exc.errors, headers=exc.headers
        )

    @app.exception_handler(LeadscoreError)
    async def _domain(request: Request, exc: LeadscoreError) -> JSONResponse:
        # Domain errors without a status are the client's to fix.
        return problem_response(request, 400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(request, 422, f"invalid request: {summary}", errors=errors)

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the schema let through (e.g. a NUL character,
        # which PostgreSQL text cannot hold): the client's input, not a server fault.
        # The transaction was rolled back, so nothing was stored.
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return problem_response(request, 422, f"a value could not be stored: {reason}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            request, exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not bad input: log it with its traceback, tell the client nothing internal.
        import logging

        logging.getLogger("leadscore.api").exception("unhandled error on %s", request.url.path)
        return problem_response(request, 500, "internal error; it has been logged")
