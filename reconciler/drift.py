"""Decides whether a live object already carries everything we would apply,
so a settled cluster gets no writes while an edit to a field we own is still
seen (and corrected by the next apply)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from builders.labels import RESERVATION_GATE

# The caches keep a ConfigMap's data values as these digests (reconciler.cache_transforms).
DIGEST_PREFIX = "sha256:"


def data_digest(value: str) -> str:
    """How a ConfigMap's data value is kept in the cache, and compared by the drift check."""
    return DIGEST_PREFIX + hashlib.sha256(value.encode()).hexdigest()


def digested_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """A ConfigMap's data with each (string) value as its digest."""
    return {k: data_digest(v) if isinstance(v, str) else v for k, v in data.items()}


def digested(desired: Mapping[str, Any]) -> Mapping[str, Any]:
    """A desired object as its cached form compares: a ConfigMap's data values as digests."""
    data = desired.get("data")
    if desired.get("kind") != "ConfigMap" or not isinstance(data, Mapping):
        return desired
    return {**desired, "data": digested_data(data)}


def _is_map(value: Any) -> bool:
    # JSON from the caches is plain dicts and lists: skip the slower ABC check for them.
    kind = type(value)
    return kind is dict or (kind is not list and kind is not str and isinstance(value, Mapping))


def _is_list(value: Any) -> bool:
    kind = type(value)
    if kind is list:
        return True
    if kind is dict or kind is str:
        return False
    return isinstance(value, Sequence) and not isinstance(value, str)


def covers(live: Any, desired: Any) -> bool:
    """True when every field of `desired` is in `live` with the same value.

    The API server adds defaults (maps gain keys, list items gain fields, and
    admission may add items such as a token volume), so maps compare as
    subsets and each desired list item must be covered by some live item.
    Numbers and their string forms (`cpu: 1` vs "1") count as equal.
    """
    if type(desired) is str and type(live) is str:
        return live == desired
    if _is_map(desired):
        return _is_map(live) and all(
            key in live and covers(live[key], value) for key, value in desired.items()
        )
    if _is_list(desired):
        if not _is_list(live):
            return False
        if desired and all(_is_map(item) for item in desired):
            return all(any(covers(candidate, item) for candidate in live) for item in desired)
        return len(live) == len(desired) and all(
            covers(a, b) for a, b in zip(live, desired, strict=True)
        )
    if isinstance(desired, bool) or isinstance(live, bool):
        return live is desired
    if (isinstance(desired, int | float) and isinstance(live, str)) or (
        isinstance(live, int | float) and isinstance(desired, str)
    ):
        return str(live) == str(desired)
    return bool(live == desired)


def _gate_released(live: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """A pod whose reservation gate is still live though the desired pod has none: the
    subset comparison cannot see a field that must go, so it is looked for by name."""

    def gates(obj: Mapping[str, Any]) -> set[str]:
        return {str(g.get("name")) for g in (obj.get("spec") or {}).get("schedulingGates") or []}

    return RESERVATION_GATE in gates(live) and RESERVATION_GATE not in gates(desired)


def apply_needed(live: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> bool:
    """`live` as the caches keep it (reconciler.cache_transforms): a ConfigMap's data
    values are digests there, so the desired ones are compared as digests."""
    if live is None:
        return True
    if desired.get("kind") == "Pod" and _gate_released(live, desired):
        return True
    body = {k: v for k, v in digested(desired).items() if k not in ("apiVersion", "kind")}
    return not covers(live, body)
