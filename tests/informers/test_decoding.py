"""Decoding drops ObjectMeta's managedFields while parsing, and nothing else."""

from __future__ import annotations

import json

import pytest

from informers.decoding import json_loads, page_loads, strip_managed_fields

EVENT = {
    "type": "MODIFIED",
    "object": {
        "kind": "ConfigMap",
        "metadata": {
            "name": "a",
            "uid": "u-1",
            "resourceVersion": "7",
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
        },
        # A user map that happens to use the key: kept, as it is no ObjectMeta.
        "data": {"managedFields": "mine", "resourceVersion": "also mine"},
    },
}


def test_managed_fields_are_dropped_from_object_metadata_only() -> None:
    decoded = page_loads(drop_managed_fields=True)(json.dumps(EVENT).encode())
    assert "managedFields" not in decoded["object"]["metadata"]
    assert decoded["object"]["metadata"]["name"] == "a"
    assert decoded["object"]["data"] == EVENT["object"]["data"]  # type: ignore[index]


def test_managed_fields_are_kept_on_request() -> None:
    decoded = page_loads(drop_managed_fields=False)(json.dumps(EVENT).encode())
    assert decoded == EVENT


def test_one_object_is_trimmed_by_path() -> None:
    obj = json.loads(json.dumps(EVENT))["object"]
    assert strip_managed_fields(obj)["metadata"] == {
        "name": "a",
        "uid": "u-1",
        "resourceVersion": "7",
    }
    assert obj["data"] == EVENT["object"]["data"]  # type: ignore[index]


def test_objects_nested_as_deep_as_the_api_server_allows_still_decode() -> None:
    deep = '{"a":' * 9_999 + "1" + "}" * 9_999
    page = '{"metadata": {"resourceVersion": "1"}, "items": [' + deep + "]}"
    for loads in (page_loads(drop_managed_fields=True), page_loads(drop_managed_fields=False)):
        decoded = loads(page.encode())
        assert len(decoded["items"]) == 1
    assert json_loads(deep)["a"]["a"]["a"]
    with pytest.raises(RecursionError):
        json.loads(deep)  # what the informer would die of without the retry


def test_one_document_decodes_as_the_standard_parser_does_and_bad_json_is_refused() -> None:
    event = {**EVENT, "object": {**EVENT["object"], "note": "é ✓ <&>", "n": -(2**63), "f": 0.1}}  # type: ignore[dict-item]
    text = json.dumps(event, ensure_ascii=False)
    assert json_loads(text.encode()) == json.loads(text)
    assert json_loads(text) == json.loads(text)
    for bad in (b'{"type": "MODIFIED",', b"", b"[1,]"):
        with pytest.raises(ValueError):  # noqa: PT011 - either parser's error is a ValueError
            json_loads(bad)
