"""FastAPI's built-in OpenTelemetry instrumentation runs only when LEADSCORE_OPENTELEMETRY asks for it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace

from leadscore.app import create_app

telemetry = pytest.importorskip("fastapi.telemetry._asgi", reason="FastAPI without built-in telemetry")


class ConfiguredProvider(trace.NoOpTracerProvider):
    """Stands for an SDK provider: FastAPI instruments only when one is configured."""


@pytest.mark.parametrize("asked", [False, True])
def test_instrumentation_follows_the_setting(fresh_database, monkeypatch, asked):
    monkeypatch.setattr(trace, "get_tracer_provider", ConfiguredProvider)
    instrumented: list[str] = []
    original = telemetry.NativeTelemetry.__call__

    async def spy(self, *, scope, **kwargs):  # noqa: ANN001, ANN003, ANN202
        instrumented.append(scope["path"])
        await original(self, scope=scope, **kwargs)

    monkeypatch.setattr(telemetry.NativeTelemetry, "__call__", spy)
    settings = fresh_database.model_copy(update={"opentelemetry": asked, "scheduler_enabled": False})
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
    assert instrumented == (["/healthz"] if asked else [])
