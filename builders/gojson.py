"""JSON read and written the way Kuscia's renderer (Go's encoding/json) does it, for queries.

Kuscia decodes a variable into Go values and encodes a query's object or array
result again: numbers become float64 (so `1.0` is written `1` and integers past
2^53 lose their last digits), object keys come out sorted, output is compact,
and `<`, `>`, `&`, U+2028 and U+2029 in strings are written as `\\u` escapes.
Text Go cannot decode (`NaN`, `Infinity`, a number past float64) is not JSON here
either. Numbers are normalised once, when parsed, to values Python's own encoder
writes as Go does, except a few (such as 1e-05, which Go writes 0.00001) that are
kept as GoFloat and put in place after Python's encoder has run.
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
_PLACEHOLDER = re.compile(r'"\\u0000([0-9]+)\\u0000"')


class GoFloat:
    """A number Go writes otherwise than Python would; `text` is how Go writes it."""

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


def loads(text: str) -> Any:
    """The value, or ValueError where Go's json.Unmarshal would fail too.
    RecursionError when it nests deeper than the parser can go."""
    return json.loads(text, parse_float=_parse_float, parse_int=_parse_int, parse_constant=_refuse)


def dumps(value: Any) -> str:
    """Compact, keys sorted, as Go's json.Marshal writes the decoded value."""
    go_floats: list[str] = []

    def placeholder(item: Any) -> str:
        if not isinstance(item, GoFloat):
            raise TypeError(f"{type(item).__name__} is not JSON")
        go_floats.append(item.text)
        return f"\x00{len(go_floats) - 1}\x00"

    try:
        text = json.dumps(
            value,
            ensure_ascii=False,
            separators=(",", ":"),
            sort_keys=True,
            check_circular=False,
            default=placeholder,
        )
    except RecursionError:
        return _escape_html(_dumps_slow(value))
    if go_floats:
        # Each GoFloat was written as a string holding its index between NULs; the count
        # tells whether a string of the value itself looked the same.
        if len(_PLACEHOLDER.findall(text)) == len(go_floats):
            text = _PLACEHOLDER.sub(lambda match: go_floats[int(match.group(1))], text)
        else:
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
    """The value whose Python JSON text is Go's: an int for an integral float64 below 1e21
    (Go writes its shortest digits, zero-padded), a GoFloat where Python's float text
    differs from Go's (exponents -5 to -9, and -0), else the float itself."""
    if number == 0:
        return GoFloat("-0", 0) if math.copysign(1, number) < 0 else 0
    magnitude = abs(number)
    if number.is_integer():
        if magnitude < _EXACT:
            return int(number)
        if magnitude < 1e21:
            return int(Decimal(repr(number)))
        return number
    if 1e-9 <= magnitude < 1e-4:
        return GoFloat(_go_float_text(number))
    return number


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


def _escape_html(text: str) -> str:
    return text.translate(_HTML) if _HTML_CHARS.search(text) else text


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _dumps_slow(value: Any) -> str:
    """The same text for values nested past the C encoder's depth (or holding a string
    that looks like a placeholder), with an explicit stack (no recursion)."""
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
