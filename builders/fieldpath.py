"""Field paths as users write them (`spec.parties[0].role`, never `spec.parties.0.role`),
for every message that says where a validation error is."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError


def field_path(loc: Sequence[int | str]) -> str:
    """A pydantic error location as a path: list positions in brackets, keys after dots."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def first_error(error: ValidationError) -> str:
    """`path: message` of the first problem pydantic found."""
    first = error.errors(include_url=False)[0]
    return f"{field_path(first['loc'])}: {first['msg']}"


def every_error(error: ValidationError) -> str:
    """`path: message` of every problem pydantic found, joined by `; `."""
    return "; ".join(f"{field_path(e['loc'])}: {e['msg']}" for e in error.errors(include_url=False))
