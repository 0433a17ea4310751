"""The informer against the real API server: events in order, selectors, late handlers,
resync, errors, and recovery from a restarted API server, an expired resourceVersion
(410) and a silently dead connection."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import pytest
from kubernetes_asyncio import client

from devcluster.cluster import ControlPlane
from informers.clock import FakeClock
from informers.informer import HandlerFuncs, Informer
from informers.reflector import ReflectorOptions
from informers.resource import Resource
from informers.store import NAMESPACE_INDEX
from tests.informers.support import (
    FAST,
    Recorder,
    api_client_via,
    assert_indexes_consistent,
    configmap,
    eventually,
    running,
)
from tests.informers.tcpproxy import TcpProxy

CONFIGMAPS = Resource("", "v1", "configmaps", namespaced=True)
NAMESPACES = Resource("", "v1", "namespaces", namespaced=False)


def by_app(obj: dict[str, Any]) -> list[str]:
    app = (obj["metadata"].get("labels") or {}).get("app")
    return [app] if app else []


def configmap_informer(api: client.ApiClient, namespace: str, **kwargs: Any) -> Informer:
    kwargs.setdefault("options", FAST)
    return Informer(api, CONFIGMAPS, namespace=namespace, indexers={"app": by_app}, **kwargs)


async def test_si1_rf10_create_update_delete_arrive_in_order_with_the_store_already_updated(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    pre = await core.create_namespaced_config_map(namespace, configmap("pre", app="web"))
    informer = configmap_informer(api_client, namespace)
    recorder = Recorder()
    seen_in_index: list[list[str]] = []
    informer.add_event_handler(recorder)
    informer.add_event_handler(
        HandlerFuncs(
            add=lambda o, _: seen_in_index.append(informer.store.index_keys("app", "web")),
            update=lambda o, n, _: seen_in_index.append(informer.store.index_keys("app", "web")),
            delete=lambda o: seen_in_index.append(informer.store.index_keys("app", "web")),
        )
    )
    key = f"{namespace}/a"
    async with running(informer):
        assert informer.has_synced()
        assert recorder.events == [("add", f"{namespace}/pre", pre.metadata.resource_version, True)]
        created = await core.create_namespaced_config_map(namespace, configmap("a", app="web"))
        patched = await core.patch_namespaced_config_map(
            "a", namespace, {"metadata": {"labels": {"app": "db"}}}
        )
        await core.delete_namespaced_config_map("a", namespace)
        await eventually(lambda: len(recorder.of(key)) == 3, what="three events for a")
        assert_indexes_consistent(informer.store)
        last_rv = informer.last_sync_resource_version
    assert recorder.of(key)[:2] == [
        ("add", key, created.metadata.resource_version, False),
        ("update", key, patched.metadata.resource_version, False),
    ]
    assert recorder.of(key)[2][0] == "delete"
    # SI-1: the index already showed each change when the handler ran.
    assert seen_in_index == [
        [f"{namespace}/pre"],
        [f"{namespace}/a", f"{namespace}/pre"],
        [f"{namespace}/pre"],
        [f"{namespace}/pre"],
    ]
    assert informer.store.list_keys() == [f"{namespace}/pre"]
    assert last_rv == recorder.of(key)[2][2]  # RF-9: the RV followed the events
    stored = informer.store.get_by_key(f"{namespace}/pre")
    assert stored is not None
    assert "managedFields" not in stored["metadata"]  # the default transform
    assert (stored["apiVersion"], stored["kind"]) == ("v1", "ConfigMap")  # filled in for lists


async def test_label_selected_informer_sees_only_matching_objects(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    for name, owner in (("m1", "me"), ("o1", "other")):
        await core.create_namespaced_config_map(namespace, configmap(name, owner=owner))
    informer = configmap_informer(api_client, namespace, label_selector="owner=me")
    recorder = Recorder()
    informer.add_event_handler(recorder)
    async with running(informer):
        assert informer.store.list_keys() == [f"{namespace}/m1"]
        await core.create_namespaced_config_map(namespace, configmap("o2", owner="other"))
        await core.create_namespaced_config_map(namespace, configmap("m2", owner="me"))
        # An object that starts matching arrives as an add; one that stops, as a delete.
        await core.patch_namespaced_config_map(
            "o1", namespace, {"metadata": {"labels": {"owner": "me"}}}
        )
        await core.patch_namespaced_config_map(
            "m1", namespace, {"metadata": {"labels": {"owner": "x"}}}
        )
        await eventually(lambda: len(recorder.events) == 4, what="four events")
        assert sorted(informer.store.list_keys()) == [f"{namespace}/m2", f"{namespace}/o1"]
        assert_indexes_consistent(informer.store)
    assert [e[:2] for e in recorder.events] == [
        ("add", f"{namespace}/m1"),
        ("add", f"{namespace}/m2"),
        ("add", f"{namespace}/o1"),
        ("delete", f"{namespace}/m1"),
    ]


async def test_cluster_scoped_informer_keys_by_bare_name_and_indexes_the_empty_namespace(
    api_client: client.ApiClient, control_plane: ControlPlane
) -> None:
    tag = uuid.uuid4().hex[:10]
    core = client.CoreV1Api(api_client)
    names = [f"cs-{tag}-{i}" for i in range(2)]
    informer = Informer(api_client, NAMESPACES, label_selector=f"informer-test={tag}", options=FAST)
    try:
        await core.create_namespace(
            {"metadata": {"name": names[0], "labels": {"informer-test": tag}}}
        )
        async with running(informer):
            await core.create_namespace(
                {"metadata": {"name": names[1], "labels": {"informer-test": tag}}}
            )
            await eventually(lambda: len(informer.store) == 2, what="two namespaces")
            assert sorted(informer.store.list_keys()) == names
            assert informer.store.index_keys(NAMESPACE_INDEX, "") == names
    finally:
        for name in names:
            control_plane.run_kubectl("delete", "namespace", name, "--wait=false", check=False)


async def test_si5_a_handler_added_after_start_first_gets_every_cached_object(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    for name in ("a", "b"):
        await core.create_namespaced_config_map(namespace, configmap(name))
    informer = configmap_informer(api_client, namespace)
    async with running(informer):
        late = Recorder()
        informer.add_event_handler(late)
        assert sorted(e[:2] for e in late.events) == [
            ("add", f"{namespace}/a"),
            ("add", f"{namespace}/b"),
        ]
        assert all(e[3] is True for e in late.events)
        await core.create_namespaced_config_map(namespace, configmap("c"))
        await eventually(lambda: len(late.events) == 3, what="the new object")
        assert late.events[2][:2] == ("add", f"{namespace}/c")
    with pytest.raises(RuntimeError, match="stopped"):
        informer.add_event_handler(Recorder())  # SI-8


async def test_rf13_resync_redelivers_every_object_as_a_marked_update(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    await core.create_namespaced_config_map(namespace, configmap("a"))
    clock = FakeClock()
    informer = configmap_informer(api_client, namespace, clock=clock, resync_period=30)
    recorder = Recorder()
    informer.add_event_handler(recorder)
    async with running(informer):
        clock.step(29)
        await anyio.sleep(0.05)
        assert recorder.kinds(f"{namespace}/a", real_only=False) == ["add"]
        clock.step(1)
        await eventually(lambda: len(recorder.events) == 2, what="a resync")
        rv = recorder.events[0][2]
        assert recorder.events[1] == ("update", f"{namespace}/a", rv, True)


async def test_informer_that_cannot_list_stays_unhealthy_and_keeps_retrying(
    api_client: client.ApiClient,
) -> None:
    missing = Resource("example.invalid", "v1", "nothings", namespaced=True)
    informer = Informer(api_client, missing, options=FAST)
    async with running(informer, synced=False):
        await eventually(lambda: informer.stats.errors >= 3, what="three failed rounds")
        assert not informer.healthy
        assert not informer.has_synced()


async def test_rf11_watch_broken_by_apiserver_restart_recovers_with_nothing_missed(
    api_client: client.ApiClient, namespace: str, control_plane: ControlPlane
) -> None:
    core = client.CoreV1Api(api_client)
    for name in ("keep", "change", "remove"):
        await core.create_namespaced_config_map(namespace, configmap(name, app="web"))
    # kube-apiserver's graceful stop waits for open HTTP/1.1 watches to end, so
    # short watches keep the stop short.
    options = ReflectorOptions(min_watch_timeout=2, backoff=FAST.backoff)
    informer = configmap_informer(api_client, namespace, options=options)
    recorder = Recorder()
    informer.add_event_handler(recorder)
    async with running(informer):
        await anyio.to_thread.run_sync(control_plane.stop_apiserver)
        await eventually(lambda: not informer.healthy, what="the informer to notice")
        await anyio.to_thread.run_sync(control_plane.start_apiserver)
        await core.patch_namespaced_config_map(
            "change", namespace, {"metadata": {"labels": {"app": "db"}}}
        )
        await core.delete_namespaced_config_map("remove", namespace)
        await core.create_namespaced_config_map(namespace, configmap("new", app="web"))
        server = await core.list_namespaced_config_map(namespace)
        want = {f"{namespace}/{o.metadata.name}": o.metadata.resource_version for o in server.items}
        have = lambda: {  # noqa: E731
            k: o["metadata"]["resourceVersion"]
            for k in informer.store.list_keys()
            if (o := informer.store.get_by_key(k)) is not None
        }
        await eventually(lambda: have() == want, what="the cache to match the server")
        assert informer.healthy
        assert informer.store.index_keys("app", "db") == [f"{namespace}/change"]
        assert_indexes_consistent(informer.store)
    key = f"{namespace}/{{}}"
    assert recorder.kinds(key.format("keep")) == ["add"]
    assert recorder.kinds(key.format("change")) == ["add", "update"]
    assert recorder.kinds(key.format("remove")) == ["add", "delete"]
    assert recorder.kinds(key.format("new")) == ["add"]


async def test_rf11_q2_expired_watch_relists_and_delivers_an_object_deleted_meanwhile(
    api_client: client.ApiClient, namespace: str, control_plane: ControlPlane
) -> None:
    core = client.CoreV1Api(api_client)
    for name in ("a", "b", "c"):
        await core.create_namespaced_config_map(namespace, configmap(name, app="web"))
    proxy = TcpProxy("127.0.0.1", control_plane.api_port)
    await proxy.start()
    try:
        async with api_client_via(control_plane, proxy.port) as proxied:
            informer = configmap_informer(proxied, namespace)
            recorder = Recorder()
            informer.add_event_handler(recorder)
            async with running(informer):
                synced_rv = informer.last_sync_resource_version
                proxy.cut()  # the informer can no longer reach the server ...
                await core.delete_namespaced_config_map("b", namespace)  # ... and misses these
                await core.patch_namespaced_config_map(
                    "c", namespace, {"metadata": {"labels": {"app": "db"}}}
                )
                await core.create_namespaced_config_map(namespace, configmap("d", app="web"))
                # Make the informer's resourceVersion too old to watch from: compact etcd
                # and restart the API server so its watch cache starts after the changes.
                await anyio.to_thread.run_sync(control_plane.compact_etcd)
                await anyio.to_thread.run_sync(control_plane.restart_apiserver)
                assert informer.last_sync_resource_version == synced_rv
                proxy.resume()
                await eventually(
                    lambda: f"{namespace}/d" in informer.store and informer.healthy,
                    what="a relist",
                )
                assert informer.stats.expired >= 1
                assert informer.stats.lists >= 2
                assert sorted(informer.store.list_keys()) == [
                    f"{namespace}/{n}" for n in ("a", "c", "d")
                ]
                assert informer.store.index_keys("app", "web") == [
                    f"{namespace}/a",
                    f"{namespace}/d",
                ]
                assert_indexes_consistent(informer.store)
    finally:
        await proxy.close()
    assert recorder.kinds(f"{namespace}/b") == ["add", "delete"]
    assert recorder.kinds(f"{namespace}/c") == ["add", "update"]
    assert recorder.kinds(f"{namespace}/d") == ["add"]
    assert recorder.of(f"{namespace}/d")[0][3] is False  # not from the initial list


async def test_rf9_bookmarks_advance_the_resource_version_without_events(
    api_client: client.ApiClient, namespace: str, control_plane: ControlPlane
) -> None:
    core = client.CoreV1Api(api_client)
    await core.create_namespaced_config_map(namespace, configmap("mine"))
    # The server sends a bookmark 2 s before a watch's deadline, so short watches bring
    # one within seconds.
    options = ReflectorOptions(min_watch_timeout=3, backoff=FAST.backoff)
    informer = configmap_informer(api_client, namespace, options=options)
    recorder = Recorder()
    informer.add_event_handler(recorder)
    other = f"{namespace}-other"
    control_plane.run_kubectl("create", "namespace", other)
    written: list[int] = []

    async def write_elsewhere() -> None:
        # Changes this informer does not see. The API server's bookmarks carry the
        # resourceVersion it has processed, and after a restart that can lag until
        # further writes arrive, so keep writing until a bookmark shows one of them.
        for n in range(40):
            made = await core.create_namespaced_config_map(other, configmap(f"theirs-{n}"))
            written.append(int(made.metadata.resource_version))
            await anyio.sleep(0.5)

    try:
        async with running(informer), anyio.create_task_group() as writer:
            listed_rv = int(informer.last_sync_resource_version)
            writer.start_soon(write_elsewhere)
            await eventually(
                lambda: bool(written) and int(informer.last_sync_resource_version) >= written[0],
                within=20,
                what="a bookmark past the other namespace's changes",
            )
            writer.cancel_scope.cancel()
            assert informer.stats.bookmarks >= 1
            assert informer.stats.events == 0
            assert listed_rv < written[0]
            assert informer.store.resource_version == informer.last_sync_resource_version
    finally:
        control_plane.run_kubectl("delete", "namespace", other, "--wait=false", check=False)
    assert len(recorder.events) == 1  # only the initial add


async def test_watchdog_replaces_a_stream_that_went_silent(
    api_client: client.ApiClient, namespace: str, control_plane: ControlPlane
) -> None:
    core = client.CoreV1Api(api_client)
    proxy = TcpProxy("127.0.0.1", control_plane.api_port)
    await proxy.start()
    options = ReflectorOptions(min_watch_timeout=120, inactivity_timeout=2.0, backoff=FAST.backoff)
    try:
        async with api_client_via(control_plane, proxy.port) as proxied:
            informer = configmap_informer(proxied, namespace, options=options)
            async with running(informer):
                fired_before = informer.watchdog_fired
                proxy.freeze()  # bytes stop flowing; the sockets stay open
                await core.create_namespaced_config_map(namespace, configmap("late", app="web"))
                await eventually(
                    lambda: informer.store.get_by_key(f"{namespace}/late") is not None,
                    within=10,
                    what="the object through a replaced stream",
                )
                assert informer.watchdog_fired > fired_before
                assert informer.store.index_keys("app", "web") == [f"{namespace}/late"]
    finally:
        await proxy.close()
