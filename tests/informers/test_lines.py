"""The watch line reader: any chunking, any line length (KA-9)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from informers.lines import LineSplitter, LineTooLongError


def test_lines_split_across_chunks_are_joined() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b'{"a":') == []
    assert splitter.feed(b'1}\n{"b"') == [b'{"a":1}']
    assert splitter.pending == 4
    assert splitter.feed(b":2}\n\n") == [b'{"b":2}']
    assert splitter.pending == 0


def test_a_line_longer_than_aiohttp_read_buffer_is_fine() -> None:
    splitter = LineSplitter()
    big = b"x" * (3 * 2**21)
    lines = []
    for start in range(0, len(big), 65536):
        lines += splitter.feed(big[start : start + 65536])
    assert lines + splitter.feed(b"\n") == [big]


def test_a_line_over_the_limit_is_an_error() -> None:
    splitter = LineSplitter(max_line=10)
    with pytest.raises(LineTooLongError):
        splitter.feed(b"0123456789ab")


@given(st.lists(st.binary(min_size=1).filter(lambda b: b"\n" not in b)), st.data())
def test_any_chunking_gives_the_same_lines(lines: list[bytes], data: st.DataObject) -> None:
    body = b"".join(line + b"\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=10)))
    splitter = LineSplitter()
    seen: list[bytes] = []
    for start, end in zip([0, *cuts], [*cuts, len(body)], strict=True):
        seen += splitter.feed(body[start:end])
    assert seen == [line for line in lines if line.strip()]
