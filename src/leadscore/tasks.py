"""Collects every domain's background-task handlers into one registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leadscore.core.services import Services


def register_all(services: Services) -> None:
    # Each domain's tasks module exposes register(services); imported here, not
    # at module level, so importing a domain never drags in all the others.
    import importlib

    for domain in ("scoring", "registry", "webhooks"):
        try:
            module = importlib.import_module(f"leadscore.{domain}.tasks")
        except ModuleNotFoundError as exc:
            if exc.name == f"leadscore.{domain}.tasks":
                continue  # that domain has no background work yet
            raise
        module.register(services)
