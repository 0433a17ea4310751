"""Compacting cached JSON: a copy of a value whose dict keys and short strings are
interned, so every object of a cache shares one copy of each repeated string (kinds,
namespaces, label keys and values), whether it came in a list page or a watch event."""

from __future__ import annotations

import sys
from typing import Any

# Longer strings are rarely repeated between objects (rendered files, commands), and
# interning one that is unique only adds an entry to the interpreter's table.
SHORT_STRING = 64

_intern = sys.intern


def interned(value: Any) -> Any:
    """A copy of a JSON value (dicts, lists, scalars) with keys and short strings interned."""
    kind = type(value)
    if kind is dict:
        return interned_object(value)
    if kind is list:
        return _list(value)
    if kind is str and len(value) <= SHORT_STRING:
        return _intern(value)
    return value


def interned_object(obj: dict[str, Any]) -> dict[str, Any]:
    """`interned` for one object (a dict), as an informer's transform."""
    # One loop per container, scalars handled inline: this runs for every event.
    out = {}
    for key, value in obj.items():
        kind = type(value)
        if kind is str:
            if len(value) <= SHORT_STRING:
                value = _intern(value)
        elif kind is dict:
            value = interned_object(value)
        elif kind is list:
            value = _list(value)
        out[_intern(key)] = value
    return out


def _list(items: list[Any]) -> list[Any]:
    out = []
    for value in items:
        kind = type(value)
        if kind is str:
            if len(value) <= SHORT_STRING:
                value = _intern(value)
        elif kind is dict:
            value = interned_object(value)
        elif kind is list:
            value = _list(value)
        out.append(value)
    return out
