"""How the JSON store writes records and history lines: compact UTF-8 JSON, reused bytes."""

from __future__ import annotations

from bot.model import RecordKey
from bot.store import files
from bot.store.base import JsonDict


class RecordEncoder:
    """Encodes the records object, re-encoding only records that changed.

    Records are never edited in place (see WorkingState), so an unchanged record is
    the very same dict as last time and its encoded bytes can be reused.
    """

    def __init__(self) -> None:
        self._cache: dict[RecordKey, tuple[JsonDict, bytes]] = {}

    def records(self, records: dict[RecordKey, JsonDict]) -> bytes:
        """``{"app": {"domain": record, …}, …}`` as compact JSON bytes."""
        groups: dict[str, list[bytes]] = {}
        fresh: dict[RecordKey, tuple[JsonDict, bytes]] = {}
        for key, record in records.items():
            hit = self._cache.get(key)
            if hit is not None and hit[0] is record:
                fragment = hit[1]
            else:
                fragment = files.dumps(key[1]) + b":" + files.dumps(record)
            fresh[key] = (record, fragment)
            groups.setdefault(key[0], []).append(fragment)
        self._cache = fresh
        apps = (files.dumps(app) + b":{" + b",".join(parts) + b"}" for app, parts in groups.items())
        return b"{" + b",".join(apps) + b"}"


def lines(entries: list[JsonDict]) -> bytes:
    """History entries as JSON lines."""
    return b"".join(files.dumps(e) + b"\n" for e in entries)
