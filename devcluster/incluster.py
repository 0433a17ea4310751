"""`make run RUN_ARGS=--in-cluster`: the controller as users run it, its image built
here and imported into the real node, installed with the chart (`helm install`),
and removed again (`helm uninstall`) when the demo ends."""

from __future__ import annotations

from pathlib import Path

from devcluster.assets import find_assets, find_helm
from devcluster.images import controller as image
from devcluster.node.layout import NODE_LABEL, TOLERATING_NAMESPACE_ANNOTATIONS, NodePaths
from devcluster.release import Release


def install(kubeconfig: str) -> Release:
    """Builds (or reuses) the image, imports it into the real node and installs the
    chart with its defaults, the image, and a nodeSelector for the real node (the
    simulated nodes cannot run it). Raises SystemExit saying why when it cannot."""
    socket = NodePaths(logs=Path("/nonexistent")).containerd_socket
    if not socket.exists():
        raise SystemExit(
            "--in-cluster needs the real node (make up starts it where the machine can run "
            "it); without it, make run runs the controller as a local process"
        )
    try:
        image.ensure_tools()
    except image.ImageUnavailable as reason:
        raise SystemExit(f"--in-cluster: cannot build the image: {reason}") from None
    built = image.Builder().build(import_into=socket)
    print(f"image {built.reference} ({built.size_bytes / 2**20:.0f} MiB) imported")
    release = Release(Path(kubeconfig), find_helm(), find_assets()["kubectl"])
    if release.run_helm("list", "-n", release.namespace, "-q").split():
        release.uninstall()  # an earlier run's, left by a crash
    release.create_namespace(TOLERATING_NAMESPACE_ANNOTATIONS)
    release.install(built.reference, strings=[f"nodeSelector.{NODE_LABEL}=true"])
    release.rollout()
    print(
        f"installed: release {release.name} in namespace {release.namespace}, "
        f"leader {release.wait_for_leader([p['metadata']['name'] for p in release.pods()])}"
    )
    return release


def uninstall(release: Release) -> None:
    release.uninstall()
    print(f"uninstalled release {release.name}")
