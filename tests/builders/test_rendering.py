"""Kuscia's config-template syntax on jinja2's sandbox (SPEC §4)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import rendering
from builders.rendering import TemplateSyntaxError

LIMIT = 1024 * 1024

CLUSTER_DEFINE = json.dumps(
    {
        "parties": [
            {
                "name": "alice",
                "role": "server",
                "services": [{"portName": "global", "endpoints": ["a-0-global.alice.svc:20000"]}],
            },
            {
                "name": "bob",
                "role": "client",
                "services": [{"portName": "global", "endpoints": ["b-0-global.bob.svc:20000"]}],
            },
        ],
        "selfPartyIdx": 1,
        "selfEndpointIdx": 0,
    }
)
PORTS = json.dumps(
    {"ports": [{"name": "test", "port": 26409, "scope": "Cluster", "protocol": "HTTP"}]}
)


def render(text: str, values: Mapping[str, str] | None = None) -> rendering.Rendered:
    compiled = rendering.compile_template("f.conf", text)
    return rendering.render(compiled, values or {}, limit=LIMIT)


# --- {{.NAME}} --------------------------------------------------------------------


def test_plain_variable_is_replaced_by_its_value() -> None:
    assert render("id={{.TASK_ID}};", {"TASK_ID": "job-1"}).text == "id=job-1;"


def test_plain_variable_allows_spaces_inside_the_braces() -> None:
    assert render("{{ .TASK_ID }}|{{.TASK_ID  }}", {"TASK_ID": "x"}).text == "x|x"


def test_plain_variable_is_escaped_as_a_json_string_body_without_quotes() -> None:
    value = 'say "hi" \\ bye\n\ttab'
    assert render("{{.V}}", {"V": value}).text == 'say \\"hi\\" \\\\ bye\\n\\ttab'


def test_seed_template_gives_json_whose_cluster_define_parses_again() -> None:
    template = '{\n  "task_cluster_def": "{{.TASK_CLUSTER_DEFINE}}"\n}\n'
    outer = json.loads(render(template, {"TASK_CLUSTER_DEFINE": CLUSTER_DEFINE}).text)
    assert json.loads(outer["task_cluster_def"]) == json.loads(CLUSTER_DEFINE)


def test_unknown_variable_renders_empty_and_is_reported() -> None:
    rendered = render("a{{.NOPE}}b", {})
    assert rendered.text == "ab"
    assert rendered.unknown == ["NOPE"]


def test_variable_names_are_case_sensitive() -> None:
    rendered = render("{{.task_id}}", {"TASK_ID": "x"})
    assert rendered.text == ""
    assert rendered.unknown == ["task_id"]


# --- {{{.NAME.path}}} ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("{{{.TASK_CLUSTER_DEFINE.selfPartyIdx}}}", "1"),
        ("{{{.TASK_CLUSTER_DEFINE.parties[0].name}}}", "alice"),
        ("{{{.TASK_CLUSTER_DEFINE.parties[name=bob].role}}}", "client"),
        (
            "{{{.TASK_CLUSTER_DEFINE.parties[.TASK_CLUSTER_DEFINE.selfPartyIdx]"
            ".services[0].endpoints[0]}}}",
            "b-0-global.bob.svc:20000",
        ),
        ("{{{.ALLOCATED_PORTS.ports[name=test].port}}}", "26409"),
        ("{{{ .ALLOCATED_PORTS.ports[0].scope }}}", "Cluster"),
    ],
)
def test_query_reads_into_the_json_value(query: str, expected: str) -> None:
    values = {"TASK_CLUSTER_DEFINE": CLUSTER_DEFINE, "ALLOCATED_PORTS": PORTS}
    rendered = render(query, values)
    assert rendered.text == expected
    assert rendered.unknown == []


def test_query_result_that_is_not_a_string_is_inserted_as_compact_json() -> None:
    rendered = render("{{{.ALLOCATED_PORTS.ports[0]}}}", {"ALLOCATED_PORTS": PORTS})
    assert json.loads(rendered.text) == json.loads(PORTS)["ports"][0]
    assert " " not in rendered.text


def test_query_result_string_is_inserted_raw_not_escaped() -> None:
    values = {"INPUT": json.dumps({"note": 'a "quoted" \\ value'})}
    assert render("{{{.INPUT.note}}}", values).text == 'a "quoted" \\ value'


def test_query_filter_matches_numbers_by_their_json_text() -> None:
    assert render("{{{.P.ports[port=26409].name}}}", {"P": PORTS}).text == "test"


@pytest.mark.parametrize("value", ["plain text", ' "a json string" ', "12.50", "{not json", ""])
def test_query_without_a_path_inserts_a_value_that_is_no_object_or_array_raw(value: str) -> None:
    assert render("{{{.TASK_INPUT_CONFIG}}}", {"TASK_INPUT_CONFIG": value}).text == value


def test_query_without_a_path_writes_an_object_as_kuscia_does() -> None:
    value = '{"b": [1.0, 2.5], "a": "<b>"}'
    assert render("{{{.TASK_INPUT_CONFIG}}}", {"TASK_INPUT_CONFIG": value}).text == (
        '{"a":"\\u003cb\\u003e","b":[1,2.5]}'
    )


@pytest.mark.parametrize(
    "query",
    [
        "{{{.TASK_CLUSTER_DEFINE.parties[7].name}}}",
        "{{{.TASK_CLUSTER_DEFINE.parties[name=carol].role}}}",
        "{{{.TASK_CLUSTER_DEFINE.nothing}}}",
        "{{{.TASK_CLUSTER_DEFINE.selfPartyIdx.deeper}}}",
        "{{{.NOT_THERE.x}}}",
        "{{{.PLAIN_TEXT.x}}}",
    ],
)
def test_query_that_finds_nothing_renders_empty_and_is_reported(query: str) -> None:
    rendered = render(query, {"TASK_CLUSTER_DEFINE": CLUSTER_DEFINE, "PLAIN_TEXT": "not json"})
    assert rendered.text == ""
    assert rendered.unknown == [query.strip("{} .")]


# --- everything else byte for byte ------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "{% if x %}jinja{% endif %}",
        "{# not a comment #}",
        "${#x} and ${x:-y}",
        "lone { brace } and }} closers {x}",
        "windows\r\nline\rendings\n",
        "trailing newline\n\n",
        "",
        "{ {.X} }",
    ],
)
def test_text_that_is_not_kuscia_syntax_is_copied_byte_for_byte(text: str) -> None:
    assert render(text, {"x": "1"}).text == text


@given(st.text().filter(lambda s: "{{" not in s))
def test_any_text_without_placeholders_renders_to_itself(text: str) -> None:
    rendered = render(text)
    assert rendered.text == text
    assert rendered.unknown == []


@given(value=st.text())
def test_plain_variable_inside_a_json_string_round_trips_through_json_loads(value: str) -> None:
    document = json.loads(render('{"v": "{{.V}}"}', {"V": value}).text)
    assert document["v"] == value


@given(
    inner=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=5), children, max_size=3)
        ),
        max_leaves=8,
    )
)
def test_json_value_in_a_json_string_parses_twice_back_to_itself(inner: object) -> None:
    encoded = json.dumps(inner, ensure_ascii=False)
    document = json.loads(render('{"def": "{{.D}}"}', {"D": encoded}).text)
    assert json.loads(document["def"]) == inner


def test_lone_surrogates_are_escaped_so_the_output_is_valid_utf8() -> None:
    text = render('"{{.V}}"', {"V": "a\ud800b"}).text
    text.encode("utf-8")
    assert json.loads(text) == "a\ud800b"


# --- parse errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("ok\n  {{ cycler }}", 2, 3),
        ("{{.X}} {{ 7*7 }}", 1, 8),
        ("{{ if .X }}yes{{ end }}", 1, 1),
        ("a\nb\nc {{.X", 3, 3),
        ("{{{.X.list[0}}}", 1, 11),
        ("{{{X.y}}}", 1, 4),
        ("{{{.X.list[]}}}", 1, 11),
        ("{{{.X y}}}", 1, 6),
    ],
)
def test_unparsable_template_names_file_line_and_column(text: str, line: int, column: int) -> None:
    with pytest.raises(TemplateSyntaxError) as raised:
        rendering.compile_template("app.conf", text)
    assert (raised.value.file, raised.value.line, raised.value.column) == ("app.conf", line, column)
    assert f"'app.conf' line {line} column {column}" in str(raised.value)


# --- the sandbox ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ self._TemplateReference__context }}",
        "{{ config.items() }}",
        "{{ range(10**9) | list }}",
        "{{.TASK_ID.__class__}}",
    ],
)
def test_jinja_expressions_and_attribute_walks_are_parse_errors(text: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        rendering.compile_template("evil.conf", text)


@pytest.mark.parametrize(
    "text",
    [
        "{{.__class__}}",
        "{{{.TASK_CLUSTER_DEFINE.__class__.__mro__}}}",
        "{{{.TASK_ID.__len__}}}",
        "{{{.TASK_CLUSTER_DEFINE.parties.__class__}}}",
        "{{{.TASK_CLUSTER_DEFINE.items}}}",
        "{{{.TASK_CLUSTER_DEFINE.parties[__class__=x]}}}",
    ],
)
def test_python_names_in_kuscia_syntax_reach_no_python_object(text: str) -> None:
    rendered = render(text, {"TASK_CLUSTER_DEFINE": CLUSTER_DEFINE, "TASK_ID": "t"})
    assert rendered.text == ""
    assert len(rendered.unknown) == 1


def test_user_text_reaches_jinja_only_as_constants() -> None:
    compiled = rendering.compile_template("f", "{% raw %}{{.X}}{% endraw %}{#")
    assert compiled.template.globals["L"] == ("{% raw %}", "{% endraw %}{#")
    assert render("{% raw %}{{.X}}{% endraw %}{#", {"X": "1"}).text == "{% raw %}1{% endraw %}{#"


def test_the_sandbox_has_no_globals_filters_or_tests() -> None:
    env = rendering._ENV
    assert env.globals == {}
    assert env.filters == {}
    assert env.tests == {}


# --- output size ------------------------------------------------------------------


def test_rendering_stops_once_the_output_passes_the_limit() -> None:
    compiled = rendering.compile_template("bomb", "{{.BIG}}" * 1000)
    with pytest.raises(rendering.OutputTooLarge):
        rendering.render(compiled, {"BIG": "x" * 10_000}, limit=LIMIT)


def test_rendered_size_counts_utf8_bytes() -> None:
    rendered = render("é{{.V}}", {"V": "ü"})
    assert rendered.size == len(rendered.text.encode())
