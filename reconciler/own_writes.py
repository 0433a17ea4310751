"""The resourceVersions this controller's own applies produced, per object, so the watch
events they echo back do not bring a task back for a reconcile that already saw what
they say; an event of a version anyone else made (an edit, the kubelet, a delete) does.

A watch event may arrive before the answer of the write that caused it (they come on
different connections): while a write of an object is in flight, its events wait, and
are let through once the answer shows they were not that write's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from informers.handlers import EventHandler
from informers.store import object_key

Key = tuple[str, str]  # (kind, "namespace/name")

# A few versions per object: a task's objects are written at most a few times in one
# reconcile (a pod gated, then released), and each version is dropped once its event
# arrived, so what stays is bounded by the objects whose events never came (a relist
# folded them), which their delete removes.
KEEP = 4


class OwnWrites:
    def __init__(self, kinds: Iterable[str]) -> None:
        self.kinds = frozenset(kinds)
        self._versions: dict[Key, list[str]] = {}
        self._in_flight: dict[Key, int] = {}
        self._waiting: dict[Key, list[tuple[str, Callable[[], None]]]] = {}

    def tracks(self, kind: str) -> bool:
        return kind in self.kinds

    def begin(self, kind: str, key: str) -> None:
        """A write of the object is about to be sent."""
        k = (kind, key)
        self._in_flight[k] = self._in_flight.get(k, 0) + 1

    def end(self, kind: str, key: str, resource_version: str | None) -> None:
        """The write was answered with `resource_version` (None: it failed)."""
        k = (kind, key)
        left = self._in_flight.get(k, 1) - 1
        if left > 0:
            self._in_flight[k] = left
        else:
            self._in_flight.pop(k, None)
        if resource_version:
            versions = self._versions.setdefault(k, [])
            versions.append(resource_version)
            del versions[:-KEEP]
        if left <= 0:
            for version, deliver in self._waiting.pop(k, ()):
                if not self._consume(k, version):
                    deliver()

    def event(
        self, kind: str, key: str, resource_version: str, deliver: Callable[[], None]
    ) -> None:
        """Calls `deliver` for an event of the object, unless it echoes a write of ours."""
        k = (kind, key)
        if self._consume(k, resource_version):
            return
        if k in self._in_flight:
            self._waiting.setdefault(k, []).append((resource_version, deliver))
            return
        deliver()

    def forget(self, kind: str, key: str) -> None:
        """The object is gone, or its next event must be delivered whoever made it."""
        self._versions.pop((kind, key), None)

    def __len__(self) -> int:
        return len(self._versions)

    def _consume(self, k: Key, resource_version: str) -> bool:
        versions = self._versions.get(k)
        if not versions or resource_version not in versions:
            return False
        # Versions before it are older writes of ours whose events were folded away.
        del versions[: versions.index(resource_version) + 1]
        if not versions:
            del self._versions[k]
        return True


class SkipEchoes:
    """An informer event handler in front of another: events that echo our own writes
    are dropped, and so (with `skip_unchanged`) are relisted objects whose version did
    not change; deletes always pass."""

    def __init__(self, inner: EventHandler, own: OwnWrites, *, skip_unchanged: bool) -> None:
        self.inner = inner
        self.own = own
        self.skip_unchanged = skip_unchanged

    def on_add(self, obj: dict[str, Any], is_initial_list: bool) -> None:
        kind, key, version = _identity(obj)
        if not version or is_initial_list:
            self.inner.on_add(obj, is_initial_list)
            return
        self.own.event(kind, key, version, lambda: self.inner.on_add(obj, is_initial_list))

    def on_update(self, old: dict[str, Any], new: dict[str, Any], is_resync: bool) -> None:
        if is_resync and self.skip_unchanged:
            return  # nothing about it changed since this controller last saw it
        kind, key, version = _identity(new)
        if not version or is_resync:  # a relist is delivered whatever wrote the version
            self.inner.on_update(old, new, is_resync)
            return
        self.own.event(kind, key, version, lambda: self.inner.on_update(old, new, is_resync))

    def on_delete(self, obj: dict[str, Any]) -> None:
        kind, key, _ = _identity(obj)
        self.own.forget(kind, key)
        self.inner.on_delete(obj)


def _identity(obj: dict[str, Any]) -> tuple[str, str, str]:
    version = (obj.get("metadata") or {}).get("resourceVersion")
    return str(obj.get("kind")), object_key(obj), version if isinstance(version, str) else ""
