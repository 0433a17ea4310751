"""Compacting cached JSON: a copy of a value whose dict keys and short strings are
interned, so every object of a cache shares one copy of each repeated string (kinds,
namespaces, label keys and values), whether it came in a list page or a watch event."""

from __future__ import annotations

import sys
from typing import Any

# Longer strings are rarely repeated between objects (rendered files, commands), and
# interning one that is unique only adds an entry to the interpreter's table.
SHORT_STRING = 64


def interned(value: Any) -> Any:
    """A copy of a JSON value (dicts, lists, scalars) with keys and short strings interned."""
    kind = type(value)
    if kind is dict:
        return {sys.intern(key): interned(item) for key, item in value.items()}
    if kind is list:
        return [interned(item) for item in value]
    if kind is str and len(value) <= SHORT_STRING:
        return sys.intern(value)
    return value


def interned_object(obj: dict[str, Any]) -> dict[str, Any]:
    """`interned` for one object, as an informer's transform."""
    return {sys.intern(key): interned(item) for key, item in obj.items()}
