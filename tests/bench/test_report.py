"""The bench's small statistics and its markdown tables."""

from __future__ import annotations

import math

from bench.kit.report import Table, percentile, ratio


def test_percentile_is_a_measured_value_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0


def test_percentile_of_nothing_is_not_a_number() -> None:
    assert math.isnan(percentile([], 50))


def test_ratio_by_zero_is_not_a_number() -> None:
    assert math.isnan(ratio(1.0, 0.0))
    assert ratio(3.0, 2.0) == 1.5


def test_table_renders_as_markdown_with_notes() -> None:
    table = Table("Burst", ["program", "tasks/s"], rows=[["ours", "9.0"]], notes=["a note"])
    assert table.markdown().splitlines() == [
        "### Burst",
        "",
        "| program | tasks/s |",
        "|---|---|",
        "| ours | 9.0 |",
        "",
        "- a note",
    ]
