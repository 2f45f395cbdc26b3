"""``epmpulse import DATA_DIR``: copy a JSON store into the PostgreSQL store (SPEC §9, §10).

Board records, meta (canvas id, publish state, subscriptions) and the whole history —
with original times, authors and versions — are copied in one transaction, together
with rotated EPM refresh tokens from ``DATA_DIR/tokens``. The change-log cursor the caller
names (alert delivery's) is set after the imported history: those changes were news when
they happened, not now.

Importing again changes nothing: when the database history already starts with the
JSON history (it was imported before, and maybe grew since), the import reports that
and writes nothing. A database holding any other history is refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

from bot.errors import StoreError, ValidationError
from bot.lease import EPOCH_META
from bot.store.base import JsonDict
from bot.store.json_store import STATE_FILE, JsonStore
from bot.store.postgres import PostgresStore

logger = logging.getLogger(__name__)

TOKEN_DIR = "tokens"  # noqa: S105 - a directory name
TOKEN_META_PREFIX = "epm_refresh_token:"  # noqa: S105 - a meta key prefix
_MISSING = object()


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    imported: bool
    records: int
    history: int
    meta: int

    def describe(self, source: Path) -> str:
        """One line for the command's output."""
        if not self.imported:
            return f"{source}: already imported ({self.history} change(s)); nothing changed"
        return (
            f"{source}: imported {self.records} record(s), {self.history} change(s) and "
            f"{self.meta} bookkeeping value(s)"
        )


def import_json_store(source: Path, target: PostgresStore, *, cursor: str) -> ImportResult:
    """Copy the JSON store in ``source`` into ``target``; idempotent, refuses conflicts.

    ``cursor`` names the meta value of a change-log reader to move past the imported
    history.
    """
    if not (source / STATE_FILE).is_file():
        raise ValidationError(f"{source} holds no EPMPulse data ({STATE_FILE} not found).")
    json_store = JsonStore(source)
    try:
        state = json_store.snapshot()
        meta = dict(state.meta)
        # The epoch belongs to the leaders of this database, not to the old `run`.
        meta.pop(EPOCH_META, None)
        meta.update(_tokens(source))
        counted = _compare(json_store.iter_history(), target.iter_history())
        if counted is not None:
            return ImportResult(False, len(state.records), counted, len(meta))
        if target.snapshot().records:
            raise ValidationError(
                "The database already holds a board but no history from this data "
                "directory; refusing to mix them. Import into an empty database."
            )
        copied = target.load(
            state.version,
            dict(state.records),
            meta,
            json_store.iter_history(),
            delivered=cursor,
        )
    finally:
        json_store.close()
    return ImportResult(True, len(state.records), copied, len(meta))


def _compare(source: Iterator[JsonDict], target: Iterator[JsonDict]) -> int | None:
    """The number of source entries if ``target`` starts with them all; None if it is empty.

    Raises ValidationError when the database holds a different history.
    """
    count = 0
    for theirs, ours in zip_longest(source, target, fillvalue=_MISSING):
        if theirs is _MISSING:
            if count == 0:
                raise ValidationError(
                    "The data directory has no history but the database has; refusing to "
                    "import into it. Use an empty database."
                )
            return count  # the database went on after the import
        if ours is _MISSING:
            if count == 0:
                return None
            raise ValidationError(
                f"The database holds only the first {count} change(s) of this data "
                "directory's history; it was changed since it was imported. Refusing. "
                "Either import it into a fresh database (create an empty one, point "
                "EPMPULSE_DATABASE_URL at it and run `epmpulse import` again), or continue "
                "from the database as it is (`epmpulse run` with EPMPULSE_DATABASE_URL "
                "set; the directory's later changes stay only in the directory)."
            )
        if _normal(theirs) != _normal(ours):
            raise ValidationError(
                f"The database already holds a different history (change {count + 1} "
                "differs); refusing to import into it. Use an empty database."
            )
        count += 1
    return count if count else None


def _normal(entry: object) -> str:
    return json.dumps(entry, sort_keys=True, ensure_ascii=False)


def _tokens(source: Path) -> dict[str, object]:
    """Rotated refresh tokens persisted by the JSON store's EPM clients."""
    found: dict[str, object] = {}
    for path in sorted((source / TOKEN_DIR).glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read {path}: {exc.__class__.__name__}") from exc
        if isinstance(document, dict) and document.get("refresh_token"):
            found[TOKEN_META_PREFIX + path.stem] = document
    return found
