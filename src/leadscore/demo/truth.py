"""The hidden truth of a demo world, exported for evaluation only.

Nothing in the product reads these files; the database never holds them.
``FILE`` gets one row per lead; ``<stem>.agents<suffix>`` beside it one row per agent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from leadscore.core.cli import UserError
from leadscore.demo.world import World

FORMATS = (".csv", ".csv.gz", ".parquet")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix
    raise UserError(f"--truth {path}: unknown file type, use one of {', '.join(FORMATS)}")


def agents_path(path: Path) -> Path:
    suffix = _suffix(path)
    return path.with_name(path.name[: -len(suffix)] + ".agents" + suffix)


def check_path(path: Path) -> Path:
    """Fail early (before anything is built or written) if the truth cannot be written there."""
    _suffix(path)
    path = path.expanduser()
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"--truth {path}: is a directory")
    if not parent.is_dir():
        raise UserError(f"--truth {path}: directory {parent} does not exist")
    for target in (path, agents_path(path)):
        if target.exists() and not os.access(target, os.W_OK):
            raise UserError(f"--truth {target}: file is not writable")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"--truth {path}: directory {parent} is not writable")
    return path


def _write(frame: pd.DataFrame, path: Path, suffix: str | None = None) -> None:
    suffix = suffix or _suffix(path)
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, float_format="%.6g", date_format="%Y-%m-%dT%H:%M:%SZ")


def write_truth(world: World, path: Path) -> list[Path]:
    """Write both truth files; returns their paths."""
    path = check_path(path)
    leads = world.truth.copy()
    agents = world.agent_truth.copy()
    _write(leads, path)
    _write(agents, agents_path(path))
    return [path, agents_path(path)]


def stage_truth(world: World, path: Path) -> list[tuple[Path, Path]]:
    """Write both files under temporary names beside their targets; ``publish`` renames them."""
    path = check_path(path)
    staged = []
    for frame, target in ((world.truth, path), (world.agent_truth, agents_path(path))):
        temporary = target.with_name(f".{target.name}.{os.getpid()}.partial")
        _write(frame, temporary, _suffix(target))
        staged.append((temporary, target))
    return staged


def publish(staged: list[tuple[Path, Path]]) -> None:
    for temporary, target in staged:
        os.replace(temporary, target)


def discard(staged: list[tuple[Path, Path]]) -> None:
    for temporary, _target in staged:
        temporary.unlink(missing_ok=True)


def read_truth(path: Path) -> pd.DataFrame:
    """For evaluation code and tests."""
    return pd.read_parquet(path) if _suffix(path) == ".parquet" else pd.read_csv(path)
