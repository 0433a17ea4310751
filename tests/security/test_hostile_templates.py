"""Hostile config templates are refused with a clear reason, within bounded time and memory.

Each test here would hang, run for minutes or take gigabytes without the bound it
names. A watchdog turns a hang into a failure (it is a guard, far above the real
cost; the figures are in bench/hostile_inputs.py), and tracemalloc measures memory.
"""

from __future__ import annotations

import json
import signal
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

from builders import rendering
from builders.rendering import (
    MAX_ACTIONS,
    MAX_QUERY_DEPTH,
    MAX_QUERY_WORK,
    MAX_TEMPLATE_BYTES,
    TemplateRefused,
    TemplateSyntaxError,
)

T = TypeVar("T")
LIMIT = 1024 * 1024
GUARD_SECONDS = 20


class Hung(Exception):
    pass


@contextmanager
def watchdog(seconds: float = GUARD_SECONDS) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise Hung(f"still running after {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def peak_bytes(work: Callable[[], object]) -> int:
    """The most memory `work` held at once, whether it returned or raised."""
    tracemalloc.start()
    try:
        with (
            watchdog(),
            pytest.raises((TemplateRefused, TemplateSyntaxError, rendering.OutputTooLarge)),
        ):
            work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def query(path: str) -> str:
    return "{{{" + path + "}}}"


def render(text: str, values: dict[str, str], workspace: rendering.Workspace | None = None) -> str:
    compiled = rendering.compile_template("hostile.conf", text)
    return rendering.render(compiled, values, limit=LIMIT, workspace=workspace).text


# --- sandbox escapes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "{{ ().__class__.__base__.__subclasses__() }}",
        "{{ self.__init__.__globals__ }}",
        "{{ namespace.__init__.__globals__['os'] }}",
        "{{ config }}",
        "{{ request.application.__globals__ }}",
        "{{.TASK_ID|attr('__class__')}}",
        "{{.TASK_ID.__class__}}",
        "{{ '%c'|format(95) * 2 }}",
        "{{.A}}{{ 7*7 }}",
    ],
)
def test_jinja_expressions_never_run_they_are_parse_errors(text: str) -> None:
    with pytest.raises(TemplateSyntaxError, match="unsupported action"):
        rendering.compile_template("hostile.conf", text)


@pytest.mark.parametrize(
    "text",
    [
        "{% for i in range(10**12) %}x{% endfor %}",
        "{% macro m() %}{% call m() %}{% endcall %}{% endmacro %}{% call m() %}{% endcall %}",
        "{% include '/etc/passwd' %}{% import 'os' as os %}",
        "{# {{ comment }} #}".replace("{{ comment }}", "comment"),
        "{%- set x = cycler.__init__.__globals__ -%}",
    ],
)
def test_jinja_statements_are_text_copied_byte_for_byte(text: str) -> None:
    with watchdog():
        assert render(text, {}) == text


def test_queries_reach_json_values_only_never_python_attributes() -> None:
    values = {"J": json.dumps({"a": {"b": 1}}), "TASK_ID": "t"}
    for query in (
        "{{{.J.__class__}}}",
        "{{{.J.a.__dict__}}}",
        "{{{.J.a.items}}}",
        "{{{.TASK_ID.upper}}}",
    ):
        assert render(query, values) == ""


# --- template bombs: size, actions, nesting ----------------------------------------------


def test_compiling_costs_the_same_jinja_code_however_many_actions() -> None:
    with watchdog():
        small = rendering.compile_template("a", "{{.A}}")
        large = rendering.compile_template("b", "x{{.A}}" * MAX_ACTIONS)
    assert small.template.root_render_func.__code__ is large.template.root_render_func.__code__
    assert render("x{{.A}}" * MAX_ACTIONS, {"A": "1"}) == "x1" * MAX_ACTIONS


def test_a_template_with_too_many_actions_is_refused() -> None:
    with pytest.raises(TemplateRefused, match=f"more than {MAX_ACTIONS}"):
        rendering.compile_template("many.conf", "{{.A}}" * (MAX_ACTIONS + 1))


def test_a_template_over_the_config_map_limit_is_refused_before_parsing() -> None:
    text = "{{" * (MAX_TEMPLATE_BYTES // 2 + 1)
    with pytest.raises(TemplateRefused, match=f"'big.conf' is {len(text)} bytes"):
        rendering.compile_template("big.conf", text)


def test_index_chains_nest_at_most_the_allowed_depth() -> None:
    def chain(depth: int) -> str:
        return "{{{" + ".J[" * depth + ".J.a" + "]" * depth + "}}}"

    # Every level reads J.a == "a" again: a cycle through one key, resolved once per level.
    assert render(chain(MAX_QUERY_DEPTH), {"J": '{"a": "a"}'}) == "a"
    with pytest.raises(TemplateSyntaxError, match=f"more than {MAX_QUERY_DEPTH} levels deep"):
        rendering.compile_template("deep.conf", chain(MAX_QUERY_DEPTH + 1))


def test_a_query_nested_a_hundred_thousand_deep_is_refused_without_recursing() -> None:
    text = "{{{" + ".J[" * 100_000 + ".J.a" + "]" * 100_000 + "}}}"
    with watchdog(), pytest.raises(TemplateSyntaxError, match="levels deep"):
        rendering.compile_template("deep.conf", text)


# --- work and memory while rendering -------------------------------------------------------


ROWS = json.dumps({"rows": [{"k": i, "v": f"row-{i}"} for i in range(100_000)]})


def test_queries_that_scan_too_much_are_refused_within_the_work_budget() -> None:
    # 500 distinct filters over 100,000 rows: 50 million comparisons without the budget.
    text = "".join(query(f".J.rows[k={-i}].v") for i in range(500))
    workspace = rendering.Workspace()
    with watchdog(), pytest.raises(TemplateRefused, match="JSON elements and bytes"):
        render(text, {"J": ROWS}, workspace)
    assert -2 * MAX_QUERY_DEPTH < workspace.work_left < 0


def test_a_repeated_query_is_resolved_once() -> None:
    text = "{{{.J.rows[k=99999].v}}}" * MAX_ACTIONS
    workspace = rendering.Workspace()
    with watchdog():
        assert render(text, {"J": ROWS}, workspace) == "row-99999" * MAX_ACTIONS
    # One scan of the rows (an element and its key's JSON text each), not 10,000 of them.
    assert workspace.work_left > 0


def test_the_work_budget_is_shared_by_every_rendering_of_a_task() -> None:
    compiled = rendering.compile_template("per-pod.conf", "{{{.J.rows[k=-1].v}}}")
    workspace = rendering.Workspace()
    pods = MAX_QUERY_WORK // 100_000 + 1

    def render_every_pod() -> None:  # one pod after another, each scanning every row
        for _ in range(pods):
            rendering.render(compiled, {"J": ROWS}, limit=LIMIT, workspace=workspace)

    with pytest.raises(TemplateRefused):
        render_every_pod()


def test_json_nested_deeper_than_the_parser_can_go_is_refused_not_crashed() -> None:
    with pytest.raises(TemplateRefused, match="variable J, whose JSON nests too deeply"):
        render("{{{.J[0]}}}", {"J": "[" * 100_000 + "]" * 100_000})


def test_an_exponential_output_stops_at_the_limit_in_bounded_memory() -> None:
    # 10,000 copies of a 1 MB value would be 10 GB; rendering stops after the first.
    compiled = rendering.compile_template("bomb.conf", "{{.X}}" * MAX_ACTIONS)
    peak = peak_bytes(lambda: rendering.render(compiled, {"X": "\\" * 1_000_000}, limit=LIMIT))
    assert peak < 16 * LIMIT


def test_an_exponential_query_output_stops_at_the_limit_in_bounded_memory() -> None:
    compiled = rendering.compile_template("bomb.conf", "{{{.J.rows}}}" * MAX_ACTIONS)
    peak = peak_bytes(lambda: rendering.render(compiled, {"J": ROWS}, limit=LIMIT))
    assert peak < 64 * LIMIT


def test_a_scan_bomb_is_refused_in_bounded_memory() -> None:
    compiled = rendering.compile_template(
        "scan.conf", "".join(query(f".J.rows[v={i}]") for i in range(MAX_ACTIONS))
    )
    peak = peak_bytes(lambda: rendering.render(compiled, {"J": ROWS}, limit=LIMIT))
    assert peak < 64 * LIMIT
