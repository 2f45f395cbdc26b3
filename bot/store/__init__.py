"""Persistence of the board: a small interface and the portalocker-locked JSON store."""

from __future__ import annotations

from bot.store.base import BoardState, Mutation, Store, WorkingState
from bot.store.json_store import JsonStore

__all__ = ["BoardState", "JsonStore", "Mutation", "Store", "WorkingState"]
