"""Make /openapi.json tell the truth about errors, for clients and for schemathesis.

FastAPI documents validation failures as ``application/json`` ``HTTPValidationError``
and knows nothing of our authentication errors. After the schema is built this
rewrites every error response to ``application/problem+json`` with the
``ProblemDetail`` schema and adds 401, 403 and 429 (with their headers) to
every operation that declares API-key security, and 400 (unparseable body)
to every operation that takes one. Routers keep documenting
their own domain errors (``responses={404: {"model": ProblemDetail}}``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from leadscore.core.problems import PROBLEM_JSON
from leadscore.core.security.schemas import ProblemDetail

PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetail"}
_HEADER = {"schema": {"type": "integer"}}
RATE_HEADERS = {
    "RateLimit-Limit": {"description": "Requests allowed per window.", **_HEADER},
    "RateLimit-Remaining": {"description": "Requests left now.", **_HEADER},
    "RateLimit-Reset": {"description": "Seconds until more requests are available.", **_HEADER},
}
AUTH_RESPONSES: dict[str, dict[str, Any]] = {
    "401": {
        "description": "Missing, malformed, unknown, revoked or expired API key.",
        "headers": {"WWW-Authenticate": {"description": "Bearer challenge.", "schema": {"type": "string"}}},
    },
    "403": {"description": "The key lacks the scope this operation needs."},
    "429": {
        "description": "The key's rate limit is exhausted.",
        "headers": {"Retry-After": {"description": "Seconds to wait.", **_HEADER}, **RATE_HEADERS},
    },
}


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_JSON: {"schema": PROBLEM_REF}}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = ProblemDetail.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components["ProblemDetail"] = problem_schema
    for path, path_item in schema.get("paths", {}).items():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            # Errors every domain router can raise (NotFound, Conflict, Problem(422)):
            # documented once here instead of on each route.
            if "{" in path:
                responses.setdefault("404", {"description": "No such resource."})
            if method in ("post", "put", "patch", "delete"):
                responses.setdefault("409", {"description": "Conflicts with the current state."})
                responses.setdefault("422", {"description": "Invalid input; `errors` names each bad field."})
            for code, response in responses.items():
                if code[:1] in "45":
                    response["content"] = _problem_content()
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "The body could not be parsed (not JSON, or not UTF-8).",
                                             "content": _problem_content()})
            if operation.get("security"):
                for code, extra in AUTH_RESPONSES.items():
                    responses.setdefault(code, {**extra, "content": _problem_content()})
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in components and unused not in str(schema.get("paths")):
            del components[unused]
    return schema


def install(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
