"""Reading ``state.json``: its shape, parsing, and what identifies one version of it."""

from __future__ import annotations

import json
import os
from types import MappingProxyType
from typing import Any

from bot.model import DomainRecord, RecordKey
from bot.store.base import BoardState, JsonDict

SCHEMA_VERSION = 1
FileKey = tuple[int, int, int]


STATE_FIELDS = ("schema_version", "version", "records", "meta", "last_changes")


def check_document(document: dict[str, Any]) -> None:
    """Check every field of a parsed ``state.json``; ValueError names the first problem."""
    unknown = sorted(set(document) - set(STATE_FIELDS))
    missing = [name for name in STATE_FIELDS if name not in document]
    if unknown or missing:
        raise ValueError(
            f"field {(unknown or missing)[0]} is {'not known' if unknown else 'missing'}"
        )
    if document["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"schema_version {document['schema_version']!r} is not {SCHEMA_VERSION}")
    version = document["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ValueError(f"version {version!r} is not a whole number >= 0")
    if not isinstance(document["meta"], dict):
        raise ValueError("meta is not an object")
    changes = document["last_changes"]
    if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
        raise ValueError("last_changes is not a list of objects")
    records = document["records"]
    if not isinstance(records, dict):
        raise ValueError("records is not an object")
    for app, domains in records.items():
        if not isinstance(domains, dict):
            raise ValueError(f"records.{app} is not an object")
        for domain, record in domains.items():
            try:
                DomainRecord.from_json(record)
            except ValueError as exc:
                raise ValueError(f"records.{app}.{domain}: {exc}") from None


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
            check_document(document)
        except ValueError as exc:
            raise ValueError(f"invalid state: {exc}") from None
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
