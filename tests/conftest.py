"""Shared fixtures: one real control plane for the whole test session (the bare plane:
no scheduler, no nodes, so tests write Pod status themselves), a fresh namespace per
test, and a check that no test leaves an asyncio task behind. tests/scheduled/ has
the scheduled cluster."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config

from devcluster.cluster import ControlPlane

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "tests" / "fixtures" / "examples"
SEED_DOC = REPO / "tests" / "fixtures" / "AppImage.md"

_planes: dict[str, ControlPlane] = {}


def register_plane(plane: ControlPlane, fixture: str = "scheduled_cluster") -> None:
    """Makes a failing test that used `fixture` show the tails of that plane's logs."""
    _planes[fixture] = plane


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"))
    register_plane(plane, "control_plane")
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A namespace of its own for one test, designated a Kuscia domain, deleted (without
    waiting) afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    control_plane.run_kubectl("create", "namespace", name)
    control_plane.run_kubectl("label", "namespace", name, "kuscia.secretflow/domain=true")
    yield name
    control_plane.run_kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
async def api_client(control_plane: ControlPlane) -> AsyncIterator[client.ApiClient]:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(control_plane.kubeconfig), client_configuration=configuration
    )
    async with client.ApiClient(configuration) as api:
        yield api


@pytest.fixture(autouse=True)
async def no_leaked_asyncio_tasks() -> AsyncIterator[None]:
    """Fails a test that leaves asyncio tasks running after it ends."""
    before = set(asyncio.all_tasks())
    yield
    current = asyncio.current_task()
    for _ in range(50):
        leaked = {t for t in asyncio.all_tasks() - before if t is not current and not t.done()}
        if not leaked:
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"test left asyncio tasks running: {sorted(t.get_name() for t in leaked)}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    if not report.failed:
        return report
    for fixture, plane in _planes.items():
        if fixture not in getattr(item, "fixturenames", ()):
            continue
        for name in plane.procs:
            log = plane.log_path(name)
            if log.exists():
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                report.sections.append((f"{name} log (last 30 lines)", tail))
    return report
