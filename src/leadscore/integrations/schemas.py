"""Options of each import, validated before a file is opened."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from leadscore.core.cli import UserError
from leadscore.core.types import DATASET_PATTERN

ImportKind = Literal["leads", "interactions", "agents", "outcomes", "properties"]


class Join(BaseModel):
    """A lookup file whose other columns are added to attributes, matched on a column."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    on: str


class ImportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str = Field("default", max_length=64)
    id_column: str | None = None
    # field -> column
    mapping: dict[str, str] = Field(default_factory=dict)
    format: Literal["csv", "jsonl"] | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"
    na_values: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    auto_map: bool = True
    day_first: bool = False
    joins: list[Join] = Field(default_factory=list)

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str) -> str:
        if not re.fullmatch(DATASET_PATTERN, value):
            raise ValueError(f"{value!r} is not a dataset name: use letters, digits, '_', '.' or '-', starting with a letter or digit")
        return value


class TargetOptions(BaseModel):
    """How a column's values become won / lost / still open."""

    positive: list[str] = Field(default_factory=list)
    negative: list[str] = Field(default_factory=list)
    closed_at: str | None = None
    value: str | None = None

    def _check_values(self, column: str | None, option: str) -> None:
        if column is None and (self.positive or self.negative):
            raise ValueError(f"--positive/--negative need {option} COLUMN")
        if column is not None and not self.positive:
            raise ValueError(f"{option} {column} needs --positive VALUE (the value that means won)")
        overlap = {v.casefold() for v in self.positive} & {v.casefold() for v in self.negative}
        if overlap:
            raise ValueError(f"{', '.join(sorted(overlap))} is given as both --positive and --negative")


class LeadImportOptions(ImportOptions, TargetOptions):
    created_at: str | None = None
    target: str | None = None
    agent: str | None = None

    @model_validator(mode="after")
    def _target(self) -> LeadImportOptions:
        self._check_values(self.target, "--target")
        if self.target is None and (self.closed_at or self.value):
            raise ValueError("--closed-at/--value describe the outcome: they need --target COLUMN")
        return self


class InteractionImportOptions(ImportOptions):
    lead_id: str | None = None


class AgentImportOptions(ImportOptions):
    pass


class PropertyImportOptions(ImportOptions):
    pass


class OutcomeImportOptions(ImportOptions, TargetOptions):
    lead_id: str | None = None
    result: Literal["won", "lost"] | None = None
    result_column: str | None = None
    others: Literal["lost"] | None = None

    @field_validator("result", "others", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _result(self) -> OutcomeImportOptions:
        if (self.result is None) == (self.result_column is None):
            raise ValueError("give either --result won|lost (every row) or --result-column COLUMN with --positive VALUE")
        self._check_values(self.result_column, "--result-column")
        return self


OPTION_MODELS: dict[str, type[ImportOptions]] = {
    "leads": LeadImportOptions,
    "interactions": InteractionImportOptions,
    "agents": AgentImportOptions,
    "outcomes": OutcomeImportOptions,
    "properties": PropertyImportOptions,
}


def build_options(kind: str, **values: object) -> ImportOptions:
    """Validate options, turning pydantic's report into one line for the user."""
    try:
        return OPTION_MODELS[kind](**values)
    except ValidationError as exc:
        flags = {"id_column": "id", "mapping": "map", "joins": "join"}
        messages = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            where = str(error["loc"][0]) if error["loc"] else ""
            flag = flags.get(where, where).replace("_", "-")
            messages.append(f"--{flag}: {message}" if flag else message)
        raise UserError("; ".join(messages)) from None
