"""A single-layer image in the docker-archive format (`docker save`'s), from a root
filesystem described in memory; containerd imports it as it is."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class RootFS:
    """Directories, files and symlinks, written owned by root with fixed timestamps so
    the same inputs always give the same layer (and the same image ID)."""

    entries: dict[str, tarfile.TarInfo] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)

    def directory(self, path: str, mode: int = 0o755) -> None:
        self._parents(path)
        self.entries[_clean(path)] = _info(path, tarfile.DIRTYPE, mode)

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._parents(path)
        info = _info(path, tarfile.REGTYPE, mode)
        info.size = len(data)
        self.entries[_clean(path)] = info
        self.contents[_clean(path)] = data

    def copy(self, path: str, source: Path, mode: int = 0o755) -> None:
        self.file(path, source.read_bytes(), mode)

    def symlink(self, path: str, target: str) -> None:
        self._parents(path)
        info = _info(path, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self.entries[_clean(path)] = info

    def _parents(self, path: str) -> None:
        parts = _clean(path).split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            parent = "/".join(parts[:depth])
            if parent not in self.entries:
                self.entries[parent] = _info(parent, tarfile.DIRTYPE, 0o755)

    def layer(self) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(self.entries):
                data = self.contents.get(name)
                tar.addfile(self.entries[name], io.BytesIO(data) if data is not None else None)
        return buffer.getvalue()


def _clean(path: str) -> str:
    return path.strip("/")


def _info(path: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(_clean(path))
    info.type = kind
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    return info


def docker_archive(
    reference: str,
    rootfs: RootFS,
    *,
    entrypoint: Sequence[str] | None = None,
    cmd: Sequence[str] | None = None,
    working_dir: str = "/",
) -> bytes:
    """The archive of one image tagged `reference` (e.g. `local.invalid/x/y:1`)."""
    layer = rootfs.layer()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Entrypoint": list(entrypoint) if entrypoint is not None else None,
            "Cmd": list(cmd) if cmd is not None else None,
            "Env": [f"PATH={DEFAULT_PATH}"],
            "WorkingDir": working_dir,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "devcluster.images"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [reference], "Layers": ["layer.tar"]}]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (
            ("layer.tar", layer),
            (config_name, config_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
