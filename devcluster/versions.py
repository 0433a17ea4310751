"""The Kubernetes minors the local cluster builds (one wrapper module each under
gomod/kube/), the one KUBE_VERSION chooses, and the minor a binary or server reports.

The supported range is the set of wrapper modules: adding gomod/kube/1.38/ (written by
gomod/kube-module.sh) adds 1.38; without KUBE_VERSION the newest is used.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

KUBE_MODULES = Path(__file__).resolve().parent / "gomod" / "kube"
ENV = "KUBE_VERSION"
_MINOR = re.compile(r"^v?(1)\.(\d+)(?:\.\d+.*)?$")


def key(minor: str) -> tuple[int, int]:
    """ "1.31" -> (1, 31), to order minors."""
    major, _, number = minor.partition(".")
    return int(major), int(number)


def supported() -> tuple[str, ...]:
    """Every minor with a wrapper module, oldest first ("1.31", ..., "1.37")."""
    names = [p.name for p in KUBE_MODULES.iterdir() if (p / "go.mod").is_file()]
    return tuple(sorted(names, key=key))


def oldest() -> str:
    return supported()[0]


def newest() -> str:
    return supported()[-1]


def minor_of(version: str) -> str:
    """ "v1.31.14" (or "1.31") -> "1.31"; a ValueError names anything else."""
    match = _MINOR.match(version.strip())
    if not match:
        raise ValueError(f"{version!r} is no Kubernetes version (1.MINOR or v1.MINOR.PATCH)")
    return f"{match.group(1)}.{match.group(2)}"


def pinned() -> str | None:
    """The minor KUBE_VERSION asks for (checked against the supported ones), or None."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return None
    minor = minor_of(value)
    if minor not in supported():
        raise ValueError(
            f"{ENV}={value}: no wrapper module for {minor} in {KUBE_MODULES}; "
            f"supported: {', '.join(supported())}"
        )
    return minor


def requested() -> str:
    """The minor the local cluster runs: KUBE_VERSION's, else the newest supported."""
    return pinned() or newest()


def kubectl_client_version(kubectl: Path) -> str:
    """kubectl's own gitVersion (e.g. "v1.31.14"), asking no server."""
    out = subprocess.run(
        [str(kubectl), "version", "--client", "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return str(json.loads(out)["clientVersion"]["gitVersion"])
