"""Work done once per AppImage revision (compiled templates, validation), never once per task.

Keyed by the AppImage's uid and resourceVersion: the API server changes the
resourceVersion whenever the object changes, so a hit is always current. An
AppImage without both (read from a file) is not cached at all.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from builders.models import AppImage

T = TypeVar("T")

DEFAULT_MAX_ENTRIES = 4096


class RevisionCache:
    """A bounded least-recently-used memo of `build(app_image)` per AppImage revision."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
        self.builds: Counter[str] = Counter()  # per build function: how often it really ran
        self.hits: Counter[str] = Counter()

    def get(self, app_image: AppImage, build: Callable[[AppImage], T]) -> T:
        kind = build.__qualname__
        uid, version = app_image.metadata.uid, app_image.metadata.resource_version
        if not uid or not version:
            self.builds[kind] += 1
            return build(app_image)
        key = (uid, version, kind)
        entries = self._entries
        if key in entries:
            entries.move_to_end(key)
            self.hits[kind] += 1
            value: T = entries[key]
            return value
        self.builds[kind] += 1
        value = build(app_image)
        entries[key] = value
        if len(entries) > self.max_entries:
            entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self.builds.clear()
        self.hits.clear()


DEFAULT_CACHE = RevisionCache()
