"""`kuscia-reconciler sign`: set `spec.image.sign` of every AppImage in YAML files.

Writes the signed YAML to stdout (files joined as one multi-document stream), or
back into each file with `-i`; what was signed goes to stderr. Nothing is written
unless every file could be signed, so a bad file never leaves half a job done.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from reconciler import signing

STDIN = Path("-")


def run_sign(key_file: Path, files: Sequence[Path], *, in_place: bool) -> int:
    try:
        key = signing.load_private_key(key_file)
    except signing.KeyFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if in_place and STDIN in files:
        print("error: -i cannot rewrite standard input", file=sys.stderr)
        return 1
    results: list[tuple[Path, signing.Signed]] = []
    for path in files:
        try:
            text = sys.stdin.read() if path == STDIN else path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            print(f"error: {path}: cannot read: {error}", file=sys.stderr)
            return 1
        try:
            results.append((path, signing.sign_yaml(text, key, str(path))))
        except signing.SignError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    output: list[str] = []
    for path, signed in results:
        if in_place:
            path.write_text(signed.text, encoding="utf-8")
        else:
            output.append(signed.text)
        for app_image in signed.app_images:
            print(f"signed AppImage {app_image} in {path}", file=sys.stderr)
    if output:
        sys.stdout.write(_join_streams(output))
    return 0


def _join_streams(texts: Sequence[str]) -> str:
    """Several YAML files as one stream: a `---` between two files unless one is there."""
    joined = texts[0]
    for text in texts[1:]:
        if joined and not joined.endswith("\n"):
            joined += "\n"
        if not text.startswith("---"):
            joined += "---\n"
        joined += text
    return joined
