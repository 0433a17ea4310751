"""The controller's image for the local cluster: the repository's Dockerfile built
by buildah onto a Debian base made here (mmdebstrap: Python 3.11 and its runtime
libraries), its wheels from a wheelhouse pip fills on the host, written as a
docker-archive and imported into the real node's containerd.

`python -m devcluster.images.controller [--tag TAG]` (`make image`) imports it
when a real node runs here.
Everything is cached outside the repository; a build whose inputs did not change
is reused.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from devcluster.images.node_images import REGISTRY
from devcluster.node.layout import NodePaths

REPO = Path(__file__).resolve().parents[2]
CACHE = (
    Path(os.environ["KUSCIA_RECONCILER_CACHE"])
    if os.environ.get("KUSCIA_RECONCILER_CACHE")
    else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kuscia-reconciler"
) / "image"
IMAGE_NAME = f"{REGISTRY}/controller"
BASE_IMAGE = f"{REGISTRY}/debian-python:3.11"
# What the base holds beyond Debian's Essential set: the interpreter with venv
# (the Dockerfile makes a virtualenv) and passwd (its useradd).
BASE_PACKAGES = ("usr-is-merged", "python3", "python3-venv", "passwd")
BASE_SUITE = "bookworm"
# Documentation and translations never run; leaving them out halves the base.
BASE_EXCLUDES = ("/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*", "/usr/share/info/*")
# The Essential set installs usrmerge (and with it all of Perl) before
# usr-is-merged, which satisfies the same dependency, can replace it.
BASE_PURGE = (
    "usrmerge",
    "libfile-find-rule-perl",
    "libnumber-compare-perl",
    "libtext-glob-perl",
    "perl",
    "libperl5.36",
    "perl-modules-5.36",
    "libgdbm-compat4",
)
# The wheelhouse holds the dependencies and the build backend pip builds this
# package with; the package's own wheel is built in the Dockerfile from source.
BUILD_REQUIREMENTS = ("setuptools>=68",)
# Sent to the build (.dockerignore lets only these through).
CONTEXT = ("pyproject.toml", "README.md", "builders", "informers", "reconciler")
BUILDAH_RUNROOT = Path("/run/kuscia-reconciler-buildah")
PACKAGES = {"buildah": "buildah", "mmdebstrap": "mmdebstrap"}


class ImageUnavailable(Exception):
    """Why the image cannot be built on this machine, in one line."""


def default_tag() -> str:
    for line in (REPO / "pyproject.toml").read_text().splitlines():
        if line.startswith("version = "):
            return line.split('"')[1]
    raise ImageUnavailable("pyproject.toml has no version")


@dataclass
class Built:
    reference: str
    archive: Path
    size_bytes: int  # the archive's: the image's layers, uncompressed
    seconds: dict[str, float] = field(default_factory=dict)
    reused: bool = False


def _run(*args: str, timeout: float = 1800) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:3])} ... failed ({result.returncode}):\n"
            + "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        )
    return result.stdout


def ensure_tools() -> None:
    """buildah and mmdebstrap from Debian, installed when root and missing."""
    if os.geteuid() != 0:
        raise ImageUnavailable(f"building the image needs root (running as uid {os.geteuid()})")
    missing = [package for tool, package in PACKAGES.items() if shutil.which(tool) is None]
    if missing and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        command = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
        if subprocess.run(command, capture_output=True, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True, env=env, check=False)
            subprocess.run(command, capture_output=True, env=env, check=False)
        missing = [package for tool, package in PACKAGES.items() if shutil.which(tool) is None]
    if missing:
        raise ImageUnavailable(f"building the image needs the Debian packages {' '.join(missing)}")


def _digest(*parts: bytes) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(len(part).to_bytes(8, "big"))
        sha.update(part)
    return sha.hexdigest()[:16]


def _context_digest() -> str:
    parts = [(REPO / "Dockerfile").read_bytes()]
    for name in CONTEXT:
        path = REPO / name
        files = (
            [path]
            if path.is_file()
            else sorted(path.rglob("*.py")) + sorted(path.rglob("py.typed"))
        )
        for file in files:
            parts += [str(file.relative_to(REPO)).encode(), file.read_bytes()]
    return _digest(*parts)


@dataclass
class Builder:
    cache: Path = CACHE
    log: list[str] = field(default_factory=list)

    @property
    def storage(self) -> list[str]:
        # vfs: no overlay mounts inside whatever the machine itself runs in.
        return [
            "--root",
            str(self.cache / "storage"),
            "--runroot",
            str(BUILDAH_RUNROOT),
            "--storage-driver",
            "vfs",
        ]

    def buildah(self, *args: str, timeout: float = 1800) -> str:
        return _run("buildah", *self.storage, *args, timeout=timeout)

    def _has_image(self, reference: str) -> bool:
        result = subprocess.run(
            ["buildah", *self.storage, "inspect", "--type", "image", reference],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    # --- the base ----------------------------------------------------------------------

    def base(self) -> str:
        """The base image in buildah's store, made from Debian's packages once."""
        recipe = (BASE_SUITE, *BASE_PACKAGES, *BASE_EXCLUDES, *BASE_PURGE)
        stamp = _digest(*(part.encode() for part in recipe))
        reference = f"{BASE_IMAGE}-{stamp}"
        if self._has_image(reference):
            return reference
        tarball = self.cache / f"base-{stamp}.tar"
        if not tarball.exists():
            partial = tarball.with_suffix(".partial.tar")
            _run(
                "mmdebstrap",
                "--variant=essential",
                "--include=" + ",".join(BASE_PACKAGES),
                '--aptopt=APT::Install-Recommends "false"',
                '--customize-hook=chroot "$1" dpkg --purge ' + " ".join(BASE_PURGE),
                *(f"--dpkgopt=path-exclude={pattern}" for pattern in BASE_EXCLUDES),
                BASE_SUITE,
                str(partial),
            )
            partial.rename(tarball)
        container = self.buildah("from", "--pull=never", "scratch").strip()
        try:
            self.buildah("add", container, str(tarball), "/")
            self.buildah(
                "config",
                "--env",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--cmd",
                "/usr/bin/python3",
                container,
            )
            self.buildah("commit", "--quiet", container, reference)
        finally:
            self.buildah("rm", container)
        return reference

    # --- the wheelhouse ----------------------------------------------------------------

    def wheelhouse(self) -> Path:
        """The dependencies' wheels as pip resolves them for pyproject.toml, for the
        host's Python (3.11, like the base), and the build backend."""
        pyproject = (REPO / "pyproject.toml").read_bytes()
        stamp = _digest(pyproject, *(r.encode() for r in BUILD_REQUIREMENTS))
        house = self.cache / f"wheels-{stamp}"
        if (house / ".complete").exists():
            return house
        shutil.rmtree(house, ignore_errors=True)
        house.mkdir(parents=True)
        pip = [sys.executable, "-m", "pip"]
        _run(*pip, "wheel", "--quiet", "--wheel-dir", str(house), str(REPO))
        _run(*pip, "download", "--quiet", "--only-binary=:all:", "--dest", str(house),
             *BUILD_REQUIREMENTS)  # fmt: skip
        for own in house.glob("kuscia_reconciler-*.whl"):
            own.unlink()
        (house / ".complete").touch()
        return house

    # --- the image ---------------------------------------------------------------------

    def build(self, tag: str | None = None, *, import_into: Path | None = None) -> Built:
        """Builds (or reuses) the image, writes its docker-archive and imports it into
        the containerd at socket `import_into`. One build at a time on the machine (a
        lock): another build's cleanup could otherwise remove this one's archive."""
        self.cache.mkdir(parents=True, exist_ok=True)
        with open(self.cache / ".build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            built = self._build(tag or default_tag())
            if import_into is not None:
                import_into_node(built.archive, import_into)
        return built

    def _build(self, tag: str) -> Built:
        reference = f"{IMAGE_NAME}:{tag}"
        self.cache.mkdir(parents=True, exist_ok=True)
        BUILDAH_RUNROOT.mkdir(parents=True, exist_ok=True)
        seconds: dict[str, float] = {}
        begin = time.monotonic()
        base = self.base()
        seconds["base"] = time.monotonic() - begin
        house = self.wheelhouse()
        seconds["wheelhouse"] = time.monotonic() - begin - seconds["base"]
        stamp = _digest(base.encode(), house.name.encode(), _context_digest().encode())
        built = f"{IMAGE_NAME}:build-{stamp}"
        archive = self.cache / f"controller-{tag}-{stamp}.tar"
        reused = self._has_image(built)
        if not reused:
            started = time.monotonic()
            self.buildah(
                "bud",
                "--pull=never",
                "--isolation=oci",
                "--network=none",
                "--layers=false",
                "--format=docker",
                "--timestamp=0",
                f"--build-arg=BASE_IMAGE={base}",
                "--build-arg=WHEELHOUSE=/wheelhouse",
                f"--volume={house}:/wheelhouse:ro",
                "--tag",
                built,
                "--file",
                str(REPO / "Dockerfile"),
                str(REPO),
            )
            seconds["dockerfile"] = time.monotonic() - started
            self._prune(stamp)
        if not archive.exists():
            partial = archive.with_suffix(".partial")
            partial.unlink(missing_ok=True)
            self.buildah("tag", built, reference)
            self.buildah("push", "--quiet", reference, f"docker-archive:{partial}:{reference}")
            partial.rename(archive)
        seconds["total"] = time.monotonic() - begin
        return Built(reference, archive, archive.stat().st_size, seconds, reused)

    def _prune(self, stamp: str) -> None:
        """Removes the images and archives of earlier builds (vfs keeps a full copy of
        each), whatever their tags."""
        listed = self.buildah("images", "--format", "{{.ID}} {{.Name}}:{{.Tag}}")
        stale = {
            line.split()[0]
            for line in listed.splitlines()
            if f"{IMAGE_NAME}:build-" in line and not line.endswith(f":build-{stamp}")
        }
        for image_id in sorted(stale):
            self.buildah("rmi", "--force", image_id)
        self.buildah("rmi", "--prune")  # what interrupted builds left untagged
        for old in self.cache.glob("controller-*.tar"):
            if not old.name.endswith(f"-{stamp}.tar"):
                old.unlink()


def import_into_node(archive: Path, socket: Path) -> None:
    """`ctr -n k8s.io images import` into the node's containerd (the kubelet's
    namespace), so pods with imagePullPolicy IfNotPresent/Never run it."""
    _run("ctr", f"--address={socket}", "-n", "k8s.io", "images", "import", str(archive))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devcluster.images.controller")
    parser.add_argument("--tag", default=None, help="image tag (default: the package version)")
    args = parser.parse_args()
    try:
        ensure_tools()
    except ImageUnavailable as error:
        print(f"cannot build the image: {error}", file=sys.stderr)
        return 1
    socket = NodePaths(logs=Path("/nonexistent")).containerd_socket
    node = socket.exists()
    built = Builder().build(args.tag, import_into=socket if node else None)
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in built.seconds.items())
    print(
        f"{built.reference}: {built.size_bytes / 2**20:.1f} MiB"
        f" ({'reused' if built.reused else 'built'}: {timings}); archive {built.archive}"
    )
    if node:
        print(f"imported into the real node's containerd ({socket})")
    else:
        print("no real node runs here (make up starts one); the image was not imported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
