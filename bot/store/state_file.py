"""Reading ``state.json``: its shape, parsing, and what identifies one version of it."""

from __future__ import annotations

import json
import os
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from bot.model import DomainRecord
from bot.store.base import BoardState, JsonDict, RecordKey

SCHEMA_VERSION = 1
FileKey = tuple[int, int, int]


class StateFile(BaseModel):
    """What a valid ``state.json`` looks like; used to validate on open."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = Field(ge=SCHEMA_VERSION, le=SCHEMA_VERSION)
    version: int = Field(ge=0)
    records: dict[str, dict[str, DomainRecord]]
    meta: dict[str, Any]
    last_changes: list[dict[str, Any]]


def file_key(stat: os.stat_result) -> FileKey:
    """Inode, mtime and size: a replaced or rewritten file gets a new key."""
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def read_fd(fd: int) -> bytes:
    """The whole content of an open file, from its current position."""
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def parse(data: bytes, *, validate: bool) -> tuple[BoardState, list[JsonDict]]:
    """Parse ``state.json``; with ``validate`` check every field. Raises ValueError."""
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ValueError("the top level is not an object")
    if validate:
        try:
            StateFile.model_validate(document)
        except PydanticValidationError as exc:
            raise ValueError(f"invalid state: {exc.errors()[0]['msg']}") from exc
    elif document.get("schema_version") != SCHEMA_VERSION or not isinstance(
        document.get("records"), dict
    ):
        raise ValueError("unknown schema version or missing records")
    records: dict[RecordKey, JsonDict] = {
        (app, domain): record
        for app, domains in document["records"].items()
        for domain, record in domains.items()
    }
    state = BoardState(
        int(document["version"]),
        MappingProxyType(records),
        MappingProxyType(dict(document.get("meta", {}))),
    )
    return state, list(document.get("last_changes", []))
