"""The informer's cache: raw object dicts by "ns/name" key, with named secondary indexes.

Every mutation runs without an `await`, so under asyncio it is atomic for readers; and
every mutation computes all new index values before changing anything, so an index
function that raises leaves the store exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

IndexFunc = Callable[[dict[str, Any]], list[str]]

NAMESPACE_INDEX = "namespace"


class IndexNotFoundError(LookupError):
    """A query named an index the store does not have."""


class IndexConflictError(ValueError):
    """`add_indexers` was given a name the store already has."""


class IndexFunctionError(RuntimeError):
    """An index function raised for an object; the store was left unchanged."""

    def __init__(self, index: str, key: str, cause: BaseException) -> None:
        super().__init__(f"index function {index!r} failed for object {key!r}: {cause!r}")
        self.index = index
        self.key = key


def object_key(obj: Mapping[str, Any]) -> str:
    """ "namespace/name", or "name" for a cluster-scoped object (IX-1)."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        raise ValueError(f"object has no metadata: {_describe(obj)}")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"object has no metadata.name: {_describe(obj)}")
    namespace = metadata.get("namespace") or ""
    if not isinstance(namespace, str):
        raise ValueError(f"object {name!r} has a non-string metadata.namespace: {namespace!r}")
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str, str]:
    """(namespace, name) from a key made by `object_key` (IX-1)."""
    parts = key.split("/")
    if len(parts) == 1 and parts[0]:
        return "", parts[0]
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    raise ValueError(f"unexpected key format: {key!r}")


def namespace_index(obj: dict[str, Any]) -> list[str]:
    """The built-in index: an object's namespace ("" for cluster-scoped objects)."""
    return [obj.get("metadata", {}).get("namespace") or ""]


def _describe(obj: Mapping[str, Any]) -> str:
    kind = obj.get("kind", "?")
    return f"kind={kind!r} keys={sorted(obj)[:6]!r}"


Indices = dict[str, dict[str, set[str]]]
# Aliases: inside Store, "list" is the method.
ObjectList = list[dict[str, Any]]
KeyList = list[str]


class Store:
    """Objects are plain dicts (the raw JSON); callers treat what they get as immutable."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, dict[str, Any]] = {}
        self._indexers: dict[str, IndexFunc] = dict(indexers or {})
        self._indices: Indices = {name: {} for name in self._indexers}
        self.resource_version = ""  # IX-8: of the last write, replace or bookmark

    # ---- reads ---------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get_by_key(self, key: str) -> dict[str, Any] | None:
        return self._items.get(key)

    def get(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._items.get(object_key(obj))

    def list(self) -> ObjectList:
        return list(self._items.values())

    def list_keys(self) -> KeyList:
        return list(self._items)

    @property
    def indexers(self) -> dict[str, IndexFunc]:
        return dict(self._indexers)

    def by_index(self, index: str, value: str) -> ObjectList:
        """Objects whose index function returned `value` (IX-5)."""
        keys = self._index(index).get(value, ())
        return [self._items[key] for key in sorted(keys)]

    def index_keys(self, index: str, value: str) -> KeyList:
        """Sorted keys of the objects whose index function returned `value` (IX-5)."""
        return sorted(self._index(index).get(value, ()))

    def index(self, index: str, obj: dict[str, Any]) -> ObjectList:
        """Objects sharing any of `obj`'s values in `index`, each once (IX-5)."""
        entries = self._index(index)
        keys: set[str] = set()
        for value in self._values(index, self._indexers[index], obj, object_key(obj)):
            keys |= entries.get(value, set())
        return [self._items[key] for key in sorted(keys)]

    def list_index_func_values(self, index: str) -> KeyList:
        return list(self._index(index))

    def _index(self, index: str) -> dict[str, set[str]]:
        try:
            return self._indices[index]
        except KeyError:
            raise IndexNotFoundError(f"Index with name {index} does not exist") from None

    # ---- writes (never await in here) ---------------------------------------

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Adds indexes and indexes the existing objects at once (IX-6)."""
        clash = sorted(set(indexers) & set(self._indexers))
        if clash:
            raise IndexConflictError(f"indexer conflict: {clash}")
        built = {name: self._build(name, fn, self._items) for name, fn in indexers.items()}
        self._indexers.update(indexers)
        self._indices.update(built)

    def add(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        return self.update(obj)

    def update(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Inserts or replaces the object under its key (IX-2), moving its index entries;
        returns the object it replaced, if any."""
        key = object_key(obj)
        old = self._items.get(key)
        changes = [
            (index, self._values_or_empty(index, fn, old, key), self._values(index, fn, obj, key))
            for index, fn in self._indexers.items()
        ]
        self._items[key] = obj
        for index, old_values, new_values in changes:
            if len(old_values) == 1 and old_values == new_values:
                continue  # IX-4: the common case of an unchanged single value
            entries = self._indices[index]
            for value in old_values:
                _discard(entries, value, key)
            for value in new_values:
                entries.setdefault(value, set()).add(key)
        self._note_resource_version(obj)
        return old

    def delete(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        """Removes the object with obj's key, if present; returns what was stored."""
        removed = self.delete_key(object_key(obj))
        self._note_resource_version(obj)
        return removed

    def delete_key(self, key: str) -> dict[str, Any] | None:
        old = self._items.pop(key, None)
        if old is None:
            return None
        for index, fn in self._indexers.items():
            entries = self._indices[index]
            # The values were computed successfully when the object went in.
            for value in self._values_or_empty(index, fn, old, key):
                _discard(entries, value, key)
        return old

    def replace(self, objects: Iterable[dict[str, Any]], resource_version: str) -> None:
        """Swaps in a whole new set of objects and rebuilds every index (IX-3)."""
        items = {object_key(obj): obj for obj in objects}
        indices = {name: self._build(name, fn, items) for name, fn in self._indexers.items()}
        self._items = items
        self._indices = indices
        self.resource_version = resource_version

    def bookmark(self, resource_version: str) -> None:
        self.resource_version = resource_version

    def _build(
        self, index: str, fn: IndexFunc, items: Mapping[str, dict[str, Any]]
    ) -> dict[str, set[str]]:
        entries: dict[str, set[str]] = {}
        for key, obj in items.items():
            for value in self._values(index, fn, obj, key):
                entries.setdefault(value, set()).add(key)
        return entries

    @staticmethod
    def _values(index: str, fn: IndexFunc, obj: dict[str, Any], key: str) -> KeyList:
        try:
            values = fn(obj)
        except Exception as err:
            raise IndexFunctionError(index, key, err) from err
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise IndexFunctionError(index, key, TypeError(f"returned {values!r}, not list[str]"))
        return values

    def _values_or_empty(
        self, index: str, fn: IndexFunc, obj: dict[str, Any] | None, key: str
    ) -> KeyList:
        return [] if obj is None else self._values(index, fn, obj, key)

    def _note_resource_version(self, obj: Mapping[str, Any]) -> None:
        rv = obj.get("metadata", {}).get("resourceVersion")
        if isinstance(rv, str) and rv:
            self.resource_version = rv


def _discard(entries: dict[str, set[str]], value: str, key: str) -> None:
    keys = entries.get(value)
    if keys is None:
        return
    keys.discard(key)
    if not keys:
        del entries[value]  # IX-4: no empty values left behind
