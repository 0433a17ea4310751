"""APIs newer than the oldest supported minor are looked for at start, never assumed:
where one is missing the controller says in one line what it does without it. The
Workload API (PodGroups, gang scheduling) is served only where a cluster turns it on,
so neither the session's plane nor any 1.31 cluster has it."""

from __future__ import annotations

import structlog

from devcluster.cluster import ControlPlane
from reconciler.kube import POD_GROUP
from tests.reconciler.conftest import RunController


async def test_without_the_workload_api_the_controller_says_once_it_makes_no_gangs(
    control_plane: ControlPlane, run_controller: RunController
) -> None:
    served = control_plane.run_kubectl("api-versions").stdout.split()
    assert POD_GROUP.api_version not in served
    with structlog.testing.capture_logs() as logs:
        controller = await run_controller()
    said = [entry["event"] for entry in logs if "gang scheduling" in entry["event"]]
    assert said == [f"no gang scheduling: the API server serves no {POD_GROUP.api_version}"]
    assert "PodGroup" not in controller.caches.children
