"""Shared CLI plumbing: one console, clean errors, the runtime for a command."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from leadscore.core.config import ConfigError
from leadscore.core.errors import LeadscoreError
from leadscore.core.runtime import Runtime

# Piped or captured output would otherwise be cut to 80 columns, wrapping tables.
console = Console() if sys.stdout.isatty() else Console(width=160)
err_console = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=160)

F = TypeVar("F", bound=Callable[..., Any])


class UserError(LeadscoreError):
    """An error caused by the user's input: printed as one line, exit code 2."""


def clean_errors(func: F) -> F:
    """Turn configuration and input errors into one red line instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, LeadscoreError) as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def open_runtime() -> Iterator[Runtime]:
    runtime = Runtime.open()
    try:
        yield runtime
    finally:
        runtime.close()


def progress_bar(*, transient: bool = False) -> Progress:
    """The progress bar every long job uses (quiet when not on a terminal)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
        disable=not sys.stderr.isatty(),
    )
