"""The real node's images: the pause image its pods' sandboxes run, and the demo
image (Debian's static busybox plus the PSI demo program) that the demo and the
node tests run. Nothing is pulled: both are written from local binaries."""

from __future__ import annotations

import subprocess
from pathlib import Path

from devcluster.images.archive import RootFS, docker_archive

REGISTRY = "local.invalid/kuscia-reconciler"
PAUSE_IMAGE = f"{REGISTRY}/pause:1.0"
DEMO_IMAGE_NAME = f"{REGISTRY}/psi-demo"
DEMO_IMAGE_TAG = "0.1.0"
DEMO_IMAGE = f"{DEMO_IMAGE_NAME}:{DEMO_IMAGE_TAG}"
BUSYBOX = Path("/bin/busybox")


def pause_image(pause: Path) -> bytes:
    rootfs = RootFS()
    for directory in ("dev", "proc", "sys", "etc"):
        rootfs.directory(directory)
    rootfs.copy("pause", pause)
    return docker_archive(PAUSE_IMAGE, rootfs, entrypoint=["/pause"])


def demo_image(psi_demo: Path, busybox: Path = BUSYBOX) -> bytes:
    """busybox's shell and tools (`sh`, `nc`, `httpd`; its `wget` crashes in
    Debian's static build, so the tests use `nc`) and `/usr/local/bin/psi-demo`."""
    rootfs = RootFS()
    for directory in ("dev", "proc", "sys", "root", "var/run", "work"):
        rootfs.directory(directory)
    rootfs.directory("tmp", 0o1777)
    rootfs.copy("bin/busybox", busybox)
    for applet in _applets(busybox):
        if applet != "busybox":
            rootfs.symlink(f"bin/{applet}", "busybox")
    rootfs.file(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    rootfs.file("etc/group", b"root:x:0:\nnobody:x:65534:\n")
    rootfs.copy("usr/local/bin/psi-demo", psi_demo)
    return docker_archive(DEMO_IMAGE, rootfs, cmd=["/bin/sh"])


def _applets(busybox: Path) -> list[str]:
    listing = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout
    return sorted({line.strip() for line in listing.splitlines() if line.strip()})
