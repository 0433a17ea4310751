"""JSON read and written the way Kuscia's renderer (Go's encoding/json) does it, for queries.

Kuscia decodes a variable into Go values and encodes a query's object or array
result again: numbers become float64 (so `1.0` is written `1` and integers past
2^53 lose their last digits), object keys come out sorted, output is compact,
and `<`, `>`, `&`, U+2028 and U+2029 in strings are written as `\\u` escapes.
Text Go cannot decode (`NaN`, `Infinity`, a number past float64) is not JSON here
either. Numbers are normalised once, when parsed, so writing a value needs no
second walk unless it holds a fraction.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

_HTML = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
_HTML_CHARS = re.compile("[<>&\u2028\u2029]")
_GO_INT = re.compile(r"[+-]?[0-9]+")
_MAX_INDEX = 10**6  # Go prints a float64 index from 1e6 up as 1e+06, which is no integer
_EXACT = 2**53


class GoFloat:
    """A number Go writes with a fraction or an exponent; `text` is how Go writes it."""

    __slots__ = ("index", "text")

    def __init__(self, text: str, index: int | None = None) -> None:
        self.text = text
        self.index = index  # what Kuscia reads when this number is used as an array index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoFloat) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"GoFloat({self.text})"


class _NotJson(ValueError):
    pass


class _HasFraction(Exception):
    pass


def loads(text: str) -> Any:
    """The value, or ValueError where Go's json.Unmarshal would fail too.
    RecursionError when it nests deeper than the parser can go."""
    return json.loads(text, parse_float=_parse_float, parse_int=_parse_int, parse_constant=_refuse)


def dumps(value: Any) -> str:
    """Compact, keys sorted, as Go's json.Marshal writes the decoded value."""
    try:
        text = json.dumps(
            value,
            ensure_ascii=False,
            separators=(",", ":"),
            sort_keys=True,
            check_circular=False,
            default=_fraction,
        )
    except (_HasFraction, RecursionError):
        text = _dumps_slow(value)
    return _escape_html(text)


def as_index(value: Any) -> int | None:
    """The array index Kuscia reads from a value (`fmt.Sprintf("%v")`, then `strconv.Atoi`)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if -_MAX_INDEX < value < _MAX_INDEX else None
    if isinstance(value, GoFloat):
        return value.index
    if isinstance(value, str) and _GO_INT.fullmatch(value):
        return int(value)
    return None


# --- parsing ----------------------------------------------------------------------


def _refuse(name: str) -> Any:
    raise _NotJson(f"{name} is not JSON")


def _parse_int(text: str) -> Any:
    number = int(text)
    if -_EXACT <= number <= _EXACT:
        return number
    try:
        return _from_float(float(number))
    except OverflowError:
        raise _NotJson("a number past float64") from None


def _parse_float(text: str) -> Any:
    return _from_float(_finite(float(text)))


def _finite(number: float) -> float:
    if math.isinf(number) or math.isnan(number):
        raise _NotJson("a number past float64")
    return number


def _from_float(number: float) -> Any:
    if number == 0:
        return GoFloat("-0", 0) if math.copysign(1, number) < 0 else 0
    magnitude = abs(number)
    if number.is_integer() and magnitude < 1e21:
        # Go writes an integral float64 below 1e21 as its shortest digits, zero-padded.
        return int(Decimal(repr(number)))
    return GoFloat(_go_float_text(number))


def _go_float_text(number: float) -> str:
    """strconv.FormatFloat(f, 'f' or 'e', -1, 64) as encoding/json chooses, exponent tidied."""
    sign, digit_tuple, exponent = Decimal(repr(number)).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    exponent += len(digit_tuple) - len(digits)
    point = len(digits) + exponent  # value = 0.digits * 10**point
    minus = "-" if sign else ""
    if 1e-6 <= abs(number) < 1e21:
        if point <= 0:
            return f"{minus}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return f"{minus}{digits}{'0' * (point - len(digits))}"
        return f"{minus}{digits[:point]}.{digits[point:]}"
    mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    power = point - 1
    # Go writes at least two exponent digits, then encoding/json drops the 0 of e-0X.
    written = f"{abs(power):02d}" if power >= 0 else str(-power)
    return f"{minus}{mantissa}e{'+' if power >= 0 else '-'}{written}"


# --- writing ----------------------------------------------------------------------


def _fraction(value: Any) -> Any:
    if isinstance(value, GoFloat):
        raise _HasFraction
    raise TypeError(f"{type(value).__name__} is not JSON")


def _escape_html(text: str) -> str:
    return text.translate(_HTML) if _HTML_CHARS.search(text) else text


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _dumps_slow(value: Any) -> str:
    """The same text for values holding GoFloats or nested past the C encoder's depth,
    with an explicit stack (no recursion)."""
    out: list[str] = []
    stack: list[tuple[bool, Any]] = [(False, value)]
    while stack:
        literal, item = stack.pop()
        if literal:
            out.append(item)
        elif isinstance(item, dict):
            keys = sorted(item)
            stack.append((True, "}"))
            for index in range(len(keys) - 1, -1, -1):
                stack.append((False, item[keys[index]]))
                stack.append((True, ("," if index else "") + _string(keys[index]) + ":"))
            stack.append((True, "{"))
        elif isinstance(item, list):
            stack.append((True, "]"))
            for index in range(len(item) - 1, -1, -1):
                stack.append((False, item[index]))
                if index:
                    stack.append((True, ","))
            stack.append((True, "["))
        elif isinstance(item, GoFloat):
            out.append(item.text)
        else:
            out.append(json.dumps(item, ensure_ascii=False))
    return "".join(out)
