"""A write that passed the lease check but then waited (for a pooled connection, for the
event loop after a freeze) is checked again right before its bytes are sent: once the
lease has lapsed it never reaches the API server; and one frozen after that last check
reaches it too late to take effect. Real API server; the wait is made certain by a pool
of one connection that a watch holds, the freeze by blocking the whole process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from kubernetes_asyncio import client, config

from devcluster.cluster import ControlPlane
from reconciler.controller import Controller
from reconciler.kube import CONFIG_MAP as CONFIGMAPS
from reconciler.kube import ApiError, Kube, load_connection
from reconciler.leaderelection import (
    LeaderElectionConfig,
    LeaderElector,
    LeaseNotHeld,
    write_window,
)
from reconciler.settings import LeaderSettings, Settings
from reconciler.write_fence import FencedRequest, fence


@dataclass
class Lease:
    held: bool = True
    left: float = 10.0  # seconds it is still trusted

    def check(self) -> float:
        if not self.held:
            raise LeaseNotHeld("not writing: this replica's lease is not fresh")
        return self.left


@pytest.fixture
async def one_connection(control_plane: ControlPlane) -> AsyncIterator[client.ApiClient]:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(control_plane.kubeconfig), client_configuration=configuration
    )
    configuration.connection_pool_maxsize = 1
    async with client.ApiClient(configuration) as api:
        fence(api.rest_client.pool_manager)
        yield api


def _configmap(namespace: str, name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"k": "v"},
    }


async def _stored(api: client.ApiClient, namespace: str, name: str) -> bool:
    try:
        await Kube(api).request("GET", CONFIGMAPS.path(namespace, name))
    except ApiError as error:
        if error.not_found:
            return False
        raise
    return True


async def _write_behind_a_watch(
    api: client.ApiClient, namespace: str, name: str, lease: Lease, *, lapse: bool
) -> None:
    """Starts a write while a watch holds the only connection; the lease lapses (or not)
    while the write waits; then the connection is freed and the write finishes."""
    kube = Kube(api, write_guard=lease.check)
    watch = await api.call_api(
        f"/api/v1/namespaces/{namespace}/configmaps",
        "GET",
        query_params=[("watch", "true"), ("timeoutSeconds", "30")],
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    watch = watch[0] if isinstance(watch, tuple) else watch
    write = asyncio.create_task(kube.apply(_configmap(namespace, name), field_manager="fence"))
    await asyncio.sleep(0.3)
    assert not write.done(), "the write should be waiting for the connection"
    if lapse:
        lease.held = False
    watch.close()
    await write


async def test_a_write_waiting_when_the_lease_lapses_is_never_sent(
    one_connection: client.ApiClient, namespace: str
) -> None:
    with pytest.raises(LeaseNotHeld):
        await _write_behind_a_watch(one_connection, namespace, "late", Lease(), lapse=True)
    assert not await _stored(one_connection, namespace, "late")


async def test_a_write_waiting_while_the_lease_holds_is_sent(
    one_connection: client.ApiClient, namespace: str
) -> None:
    await _write_behind_a_watch(one_connection, namespace, "on-time", Lease(), lapse=False)
    got = await Kube(one_connection).request("GET", CONFIGMAPS.path(namespace, "on-time"))
    assert got["data"] == {"k": "v"}


async def test_a_write_frozen_after_its_last_check_never_takes_effect(
    one_connection: client.ApiClient, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    send_body = aiohttp.ClientRequest.write_bytes

    async def frozen_first(request: aiohttp.ClientRequest, *args: object, **kwargs: object) -> None:
        time.sleep(1.5)  # noqa: ASYNC251 - a freeze: after the last check, nothing runs
        await send_body(request, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(aiohttp.ClientRequest, "write_bytes", frozen_first)
    kube = Kube(one_connection, write_guard=Lease(left=1.0).check)
    with pytest.raises(ApiError) as refused:
        await kube.apply(_configmap(namespace, "frozen"), field_manager="fence")
    assert refused.value.status == 504
    monkeypatch.undo()
    await asyncio.sleep(1.0)  # the server has the body by now: it must still not store it
    assert not await _stored(one_connection, namespace, "frozen")


async def test_reads_and_unguarded_writes_are_never_checked(
    one_connection: client.ApiClient, namespace: str
) -> None:
    kube = Kube(one_connection)  # no write_guard: e.g. the leader election's own calls
    await kube.apply(_configmap(namespace, "free"), field_manager="fence")
    guarded = Kube(one_connection, write_guard=Lease(held=False).check)
    got = await guarded.request("GET", CONFIGMAPS.path(namespace, "free"))
    assert got["metadata"]["name"] == "free"


async def test_the_controllers_client_is_fenced(control_plane: ControlPlane) -> None:
    api = await load_connection(str(control_plane.kubeconfig), None)
    try:
        assert api.session._request_class is FencedRequest
    finally:
        await api.close()


@pytest.mark.parametrize(
    ("lease_duration", "left", "allowed"),
    [
        (15.0, 5.0, 5.0),  # a successor comes 5 s after the renew deadline: all of it
        (11.0, 5.0, 4.0),  # only 1 s after: the deadline's 2 s of trailing come off
        (11.0, 0.5, None),  # nothing left once they do: refused
    ],
)
def test_the_lease_check_leaves_room_for_a_writes_deadline_to_trail_it(
    api_client: client.ApiClient, lease_duration: float, left: float, allowed: float | None
) -> None:
    assert Controller(api_client, Settings()).kube.write_guard is None  # no leader election
    config = LeaderElectionConfig(
        lease_name="fence",
        namespace="default",
        identity="me",
        lease_duration=lease_duration,
        renew_deadline=10.0,
    )
    elector = LeaderElector(api_client, config)
    elector.lease_time_left = lambda: left  # type: ignore[method-assign]
    if allowed is None:
        with pytest.raises(LeaseNotHeld):
            elector.check_write()
        assert write_window(left, config) == 0.0
    else:
        assert elector.check_write() == pytest.approx(allowed)
        assert write_window(left, config) == pytest.approx(allowed)


def test_a_leading_controllers_writes_are_gated_by_its_elector(
    api_client: client.ApiClient,
) -> None:
    settings = Settings(leader=LeaderSettings(enabled=True))
    controller = Controller(api_client, settings)
    assert controller.elector is not None
    assert controller.kube.write_guard == controller.elector.check_write
