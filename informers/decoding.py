"""Parsing what the API server sends, and dropping metadata.managedFields from it: from a
LIST page while it is parsed, from a watch event's single object afterwards.

Single objects (watch events, answers) are parsed by orjson, several times faster than
the standard library's parser; what it refuses (nesting past its 1,024 levels, or JSON
it finds invalid) goes to the standard parser, whose verdict stands.

Inside the parser, each object's managedFields are freed before the next object is built,
so their memory is reused at once: on a 10,000-object list this leaves half the resident
memory behind, and is faster than trimming afterwards. The parser hook sees every JSON
object without its path, so it recognises ObjectMeta by shape: `managedFields` next to
`uid` and `resourceVersion`, which the server sets on every object it stores. For one
object the hook costs more than it saves, so watch events are trimmed by path instead.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson

Loads = Callable[[bytes], Any]

# The API server stores objects nested up to 10,000 levels (its JSON decoder's
# limit); Python's default recursion limit gives out near 1,000, so one deep
# object would make a whole list undecodable.
DEEPEST_JSON = 10_000


def tolerate_depth(loads: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`loads`, retried with room for the deepest JSON the API server accepts."""

    def decode(data: Any) -> Any:
        try:
            return loads(data)
        except RecursionError:
            limit = sys.getrecursionlimit()
            sys.setrecursionlimit(max(limit, 3 * DEEPEST_JSON))
            try:
                return loads(data)
            finally:
                sys.setrecursionlimit(limit)

    return decode


_standard_loads = tolerate_depth(json.loads)


def json_loads(data: Any) -> Any:
    """One JSON document (bytes or str)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _standard_loads(data)


def _drop_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    if "managedFields" in obj and "uid" in obj and "resourceVersion" in obj:
        del obj["managedFields"]
    return obj


def page_loads(*, drop_managed_fields: bool) -> Loads:
    """A `json.loads` for LIST pages; with the flag, ObjectMeta comes without managedFields."""
    if drop_managed_fields:
        return tolerate_depth(partial(json.loads, object_hook=_drop_managed_fields))
    return _standard_loads


def strip_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """Drops metadata.managedFields from one object, in place."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
    return obj
