"""JSON read and written as Go's encoding/json does it (builders.gojson), for queries."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builders import gojson


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("1.0", "1"),
        ("-2.000", "-2"),
        ("1e2", "100"),
        ("1e20", "100000000000000000000"),
        ("1e21", "1e+21"),
        ("123456789e15", "1.23456789e+23"),
        ("9007199254740993", "9007199254740992"),  # past 2^53: float64 rounds it
        ("12345678901234567890", "12345678901234567000"),
        ("0.1", "0.1"),
        ("0.00001", "0.00001"),
        ("0.000001", "0.000001"),
        ("1e-7", "1e-7"),
        ("1.5e-10", "1.5e-10"),
        ("-0.0", "-0"),
        ("1e-400", "0"),
        ("2.50", "2.5"),
    ],
)
def test_numbers_are_written_as_go_writes_a_float64(text: str, written: str) -> None:
    assert gojson.dumps(gojson.loads(f"[{text}]")) == f"[{written}]"


@pytest.mark.parametrize(
    "text", ["NaN", "[Infinity]", '{"a": -Infinity}', "[1e400]", "1" + "0" * 400]
)
def test_what_go_cannot_decode_is_not_json(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not JSON|past float64"):
        gojson.loads(text)


def test_keys_are_sorted_at_every_level_and_html_characters_escaped() -> None:
    value = gojson.loads('{"b": {"y": "<a & b>", "x": "\u2028"}, "a": [{"d": 1, "c": 2.5}]}')
    assert gojson.dumps(value) == (
        '{"a":[{"c":2.5,"d":1}],"b":{"x":"\\u2028","y":"\\u003ca \\u0026 b\\u003e"}}'
    )


@pytest.mark.parametrize(
    ("value", "index"),
    [(0, 0), (-1, -1), (999_999, 999_999), (1_000_000, None), (True, None), (None, None)],
)
def test_an_index_is_what_kuscia_reads_from_the_value(value: object, index: int | None) -> None:
    assert gojson.as_index(value) == index


@pytest.mark.parametrize(
    ("text", "index"), [("1.0", 1), ("-0.0", 0), ("1.5", None), ("1e21", None)]
)
def test_an_index_from_a_decoded_number(text: str, index: int | None) -> None:
    assert gojson.as_index(gojson.loads(text)) == index


@pytest.mark.parametrize(
    ("text", "index"), [("2", 2), ("+2", 2), ("-2", -2), (" 2", None), ("٢", None)]
)
def test_an_index_from_a_string_is_what_strconv_atoi_takes(text: str, index: int | None) -> None:
    assert gojson.as_index(text) == index


def test_numbers_go_writes_otherwise_than_python_are_put_in_place() -> None:
    value = gojson.loads('{"a": [0.00001, 0.5, 1.5e-7], "b": {"c": -0.0, "d": 0.00002}}')
    assert gojson.dumps(value) == '{"a":[0.00001,0.5,1.5e-7],"b":{"c":-0,"d":0.00002}}'


def test_a_string_that_looks_like_a_placeholder_is_written_as_itself() -> None:
    value = gojson.loads('["\\u00000\\u0000", 0.00001, {"\\u00001\\u0000": 1e-5}]')
    assert gojson.dumps(value) == '["\\u00000\\u0000",0.00001,{"\\u00001\\u0000":0.00001}]'


def test_a_deep_value_holding_a_fraction_is_written_without_recursing() -> None:
    depth = 100_000
    value: object = [gojson.loads("0.5")]
    for _ in range(depth):
        value = [value]
    assert gojson.dumps(value) == "[" * depth + "[0.5]" + "]" * depth


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_values_without_fractions_are_written_compact_with_sorted_keys(value: object) -> None:
    written = gojson.dumps(gojson.loads(json.dumps(value)))
    assert json.loads(written) == value
    assert written == gojson.dumps(value)
    assert not any(c in written for c in "<>&\u2028\u2029")


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_is_read_back_to_the_same_number(number: float) -> None:
    written = gojson.dumps(gojson.loads(json.dumps([number])))
    assert [float(n) for n in json.loads(written)] == [number]
