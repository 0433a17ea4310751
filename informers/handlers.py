"""What an informer tells its listeners: add, update (resyncs marked) and delete.

Handlers are plain functions, called inline right after the store changed, so they see
the store already updated and events of one key in order; they must be cheap (enqueue
a key), since a slow handler delays the informer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class EventHandler(Protocol):
    def on_add(self, obj: dict[str, Any], is_initial_list: bool) -> None: ...

    def on_update(self, old: dict[str, Any], new: dict[str, Any], is_resync: bool) -> None: ...

    def on_delete(self, obj: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class HandlerFuncs:
    """An EventHandler from optional callables; a missing one ignores its events."""

    add: Callable[[dict[str, Any], bool], None] | None = None
    update: Callable[[dict[str, Any], dict[str, Any], bool], None] | None = None
    delete: Callable[[dict[str, Any]], None] | None = None

    def on_add(self, obj: dict[str, Any], is_initial_list: bool) -> None:
        if self.add is not None:
            self.add(obj, is_initial_list)

    def on_update(self, old: dict[str, Any], new: dict[str, Any], is_resync: bool) -> None:
        if self.update is not None:
            self.update(old, new, is_resync)

    def on_delete(self, obj: dict[str, Any]) -> None:
        if self.delete is not None:
            self.delete(obj)
