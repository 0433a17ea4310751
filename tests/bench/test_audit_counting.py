"""Writes are counted per user from the API server's audit log."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from bench.kit.plane import AuditCounter, count_line


def _line(user: str, verb: str, resource: str, subresource: str = "", stage: str = "") -> bytes:
    ref = {"resource": resource, **({"subresource": subresource} if subresource else {})}
    event = {
        "stage": stage or "ResponseComplete",
        "verb": verb,
        "user": {"username": user},
        "objectRef": ref,
    }
    return json.dumps(event).encode() + b"\n"


def test_a_line_counts_as_verb_and_resource_for_its_user() -> None:
    counts: dict[str, Counter[str]] = {}
    count_line(_line("bench-ours", "patch", "kusciatasks", "status"), counts)
    count_line(_line("bench-ours", "patch", "pods"), counts)
    count_line(_line("bench-kopf", "create", "events"), counts)
    assert counts == {
        "bench-ours": Counter({"patch kusciatasks/status": 1, "patch pods": 1}),
        "bench-kopf": Counter({"create events": 1}),
    }


def test_reads_and_unfinished_stages_do_not_count() -> None:
    counts: dict[str, Counter[str]] = {}
    count_line(_line("bench-ours", "get", "pods"), counts)
    count_line(_line("bench-ours", "patch", "pods", stage="RequestReceived"), counts)
    assert counts == {}


def test_counting_starts_at_the_mark_and_waits_for_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(_line("u", "patch", "pods"))
    audit = AuditCounter(log)
    audit.mark()
    with log.open("ab") as out:
        out.write(_line("u", "patch", "services"))
        out.write(_line("u", "delete", "pods")[:-10])  # half written
    assert audit.writes("u") == 1
    with log.open("ab") as out:
        out.write(_line("u", "delete", "pods")[-10:])
    assert audit.writes("u") == 2
