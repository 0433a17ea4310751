"""The reflector's paginated LIST against the real API server (RF-5)."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from devcluster.cluster import ControlPlane
from informers.clock import RealClock
from informers.reflector import Reflector, ReflectorOptions
from informers.resource import Resource
from informers.transport import RawApi
from informers.watchdog import InactivityWatchdog
from tests.informers.support import configmap

CONFIGMAPS = Resource("", "v1", "configmaps", namespaced=True)


class NullSink:
    def replace(self, objects: list[dict[str, Any]], resource_version: str) -> None: ...
    def upsert(self, obj: dict[str, Any]) -> None: ...
    def remove(self, obj: dict[str, Any]) -> None: ...
    def bookmark(self, resource_version: str) -> None: ...


def reflector(api: client.ApiClient, namespace: str, transform: Any, page_size: int) -> Reflector:
    clock = RealClock()
    return Reflector(
        RawApi(api),
        CONFIGMAPS,
        NullSink(),
        namespace=namespace,
        label_selector=None,
        field_selector=None,
        transform=transform,
        drop_managed_fields=True,
        options=ReflectorOptions(page_size=page_size),
        clock=clock,
        watchdog=InactivityWatchdog(clock, 30),
        name="list-test",
    )


async def fill(api: client.ApiClient, namespace: str, count: int) -> None:
    core = client.CoreV1Api(api)
    for i in range(count):
        await core.create_namespaced_config_map(namespace, configmap(f"cm-{i}"))


async def test_rf5_a_consistent_list_is_read_in_pages_of_the_page_size(
    api_client: client.ApiClient, namespace: str
) -> None:
    await fill(api_client, namespace, 5)
    r = reflector(api_client, namespace, None, page_size=2)
    objects, rv = await r.list_objects("")
    assert [o["metadata"]["name"] for o in objects] == [f"cm-{i}" for i in range(5)]
    assert r.stats.list_pages == 3
    assert rv.isdigit()
    assert all(o["kind"] == "ConfigMap" for o in objects)


async def test_rf5_an_expired_continue_token_falls_back_to_one_full_list(
    api_client: client.ApiClient, namespace: str, control_plane: ControlPlane
) -> None:
    await fill(api_client, namespace, 5)
    compacted: list[int] = []

    def compact_after_the_first_page(obj: dict[str, Any]) -> dict[str, Any]:
        if not compacted:
            # Runs while page 1 is decoded: move etcd on, compact it and restart the API
            # server, which expires the continue token that page 1 carries.
            control_plane.run_kubectl(
                "create", "configmap", "cm-late", "-n", obj["metadata"]["namespace"]
            )
            compacted.append(control_plane.compact_etcd())
            control_plane.restart_apiserver()  # its watch cache could still serve page 2
        return obj

    r = reflector(api_client, namespace, compact_after_the_first_page, page_size=2)
    objects, rv = await r.list_objects("")
    names = sorted(o["metadata"]["name"] for o in objects)
    assert names == sorted([*(f"cm-{i}" for i in range(5)), "cm-late"])
    assert r.stats.list_pages == 2  # page 1, then the 410, then one full list
    assert int(rv) >= compacted[0]
