"""Interning a cached object keeps every value and shares repeated strings."""

from __future__ import annotations

import json

from informers.compact import SHORT_STRING, interned, interned_object


def _fresh(text: str) -> str:
    return json.loads(json.dumps(text))  # a new string object, not the literal


def test_an_interned_copy_is_equal_and_shares_keys_and_short_values() -> None:
    first = json.loads('{"metadata": {"namespace": "alice", "labels": {"app": "x"}}, "n": [1, 2]}')
    second = json.loads('{"metadata": {"namespace": "alice", "labels": {"app": "x"}}, "n": [1, 2]}')
    a, b = interned_object(first), interned_object(second)
    assert a == first
    assert b == second
    assert a["metadata"]["namespace"] is b["metadata"]["namespace"]
    (key_a,) = a["metadata"]["labels"]
    (key_b,) = b["metadata"]["labels"]
    assert key_a is key_b


def test_long_strings_are_kept_as_they_are() -> None:
    long_text = _fresh("x" * (SHORT_STRING + 1))
    assert interned(long_text) is long_text
    assert interned([_fresh("y" * SHORT_STRING)])[0] is interned(_fresh("y" * SHORT_STRING))


def test_the_original_is_not_changed() -> None:
    original = {"a": {"b": ["c"]}}
    copy = interned_object(original)
    copy["a"]["b"].append("d")
    assert original == {"a": {"b": ["c"]}}
