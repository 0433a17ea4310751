"""The scheduled-cluster burst is reported beside the bare plane's, per task."""

from __future__ import annotations

from pathlib import Path

from bench.scenarios import scheduled

FIGURES = {
    "tasks": 100,
    "settled_seconds": 10.0,
    "running_seconds": 12.5,
    "writes": {"patch": 300},
    "reconciles": 150,
    "cpu_seconds": 2.0,
    "pod_watch_events": 1000,
}
BARE = {
    "tasks": 100,
    "seconds": {"ours": 5.0},
    "tasks_per_second": {"ours": 20.0},
    "writes": {"ours": {"patch": 200}},
    "ours_reconciles": 200,
    "cpu_seconds": {"ours": 1.0},
}


def test_the_scheduled_row_sits_beside_the_bare_planes() -> None:
    table = scheduled.table(FIGURES, BARE)
    bare, ours = table.rows
    assert bare[0].startswith("bare plane")
    assert bare[1:3] == ["5.0", "20.0"]
    assert bare[4:7] == ["2.0", "2.0", "10.0"]
    assert ours[1:] == ["10.0", "10.0", "12.5", "3.0", "1.5", "20.0", "10.0"]
    assert table.figures is FIGURES


def test_without_a_bare_burst_only_the_scheduled_row() -> None:
    assert len(scheduled.table(FIGURES, None).rows) == 1


def test_the_nodes_hold_every_pod_of_the_burst(tmp_path: Path) -> None:
    plane = scheduled.plane_for(tmp_path, 1000)
    assert plane.nodes.count * plane.nodes.pods >= 2 * 1001
