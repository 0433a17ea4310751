"""Request bodies are JSON the standard library would read back as the same object,
including what the fast encoder does not take itself (integers past 64 bits, keys that
are not strings), which the standard encoder then writes."""

from __future__ import annotations

import json

from reconciler.kube import json_bytes


def test_bodies_read_back_as_the_object_sent() -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a", "labels": {"x": "é ✓ <&>"}},
        "data": {"k": 'line\nnext \u2028 "quoted"'},
        "numbers": [0, -1, 2**63 - 1, 0.5, 1e20, True, None],
    }
    assert json.loads(json_bytes(body)) == body


def test_what_the_fast_encoder_refuses_is_written_by_the_standard_one() -> None:
    assert json.loads(json_bytes({"big": 2**70})) == {"big": 2**70}
    assert json.loads(json_bytes({1: "one"})) == {"1": "one"}
