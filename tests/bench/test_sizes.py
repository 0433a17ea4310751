"""Scenario sizes come from the environment: make bench's, the issue's, or each set."""

from __future__ import annotations

import pytest

from bench.kit import sizes


def test_defaults_fit_make_bench() -> None:
    chosen = sizes.from_env({})
    assert chosen.burst_tasks == 300
    assert chosen.memory_tasks == (0, 1000, 2000)
    assert chosen.scenarios == sizes.SCENARIOS
    assert not chosen.full
    assert not chosen.trickle_rate_given


def test_full_uses_the_issues_sizes() -> None:
    chosen = sizes.from_env({"BENCH_FULL": "1"})
    assert (chosen.burst_tasks, chosen.trickle_rate, chosen.trickle_seconds) == (1000, 50, 60)
    assert (chosen.idle_seconds, chosen.memory_tasks) == (300, (0, 1000, 10000))
    assert chosen.trickle_tasks == 3000


def test_each_size_can_be_set_alone() -> None:
    chosen = sizes.from_env(
        {"BENCH_FULL": "1", "BENCH_TRICKLE_RATE": "5", "BENCH_MEMORY_TASKS": "200,0"}
    )
    assert chosen.trickle_rate == 5
    assert chosen.trickle_rate_given
    assert chosen.memory_tasks == (0, 200)
    assert chosen.burst_tasks == 1000


def test_an_unknown_scenario_is_refused_by_name() -> None:
    with pytest.raises(SystemExit, match="warp"):
        sizes.from_env({"BENCH_SCENARIOS": "burst,warp"})
