"""Splits a watch response body, arriving in arbitrary chunks, into newline-ended lines.

Our own splitter instead of `StreamReader.readline()`, whose buffer limit turns one
large object into "Line is too long" (KA-9); lines here may be any size up to `max_line`.
"""

from __future__ import annotations


class LineTooLongError(ValueError):
    pass


class LineSplitter:
    def __init__(self, max_line: int = 64 * 1024 * 1024) -> None:
        self._max_line = max_line
        self._partial: list[bytes] = []
        self._partial_size = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        """Complete lines (without the newline) found so far; empty lines are skipped."""
        if b"\n" not in chunk:
            self._keep(chunk)
            return []
        pieces = chunk.split(b"\n")
        if self._partial:
            self._partial.append(pieces[0])
            pieces[0] = b"".join(self._partial)
            self._partial.clear()
            self._partial_size = 0
        tail = pieces.pop()
        self._keep(tail)
        return [piece for piece in pieces if piece.strip()]

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held back."""
        return self._partial_size

    def _keep(self, piece: bytes) -> None:
        if not piece:
            return
        self._partial_size += len(piece)
        if self._partial_size > self._max_line:
            raise LineTooLongError(f"watch line longer than {self._max_line} bytes")
        self._partial.append(piece)
