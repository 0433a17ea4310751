"""How the informer turns lists and events into store changes and handler calls (Q-2,
Q-7, Q-8, SI-1, SI-2), fed directly, without an API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio import client

from informers.informer import HandlerFuncs, Informer
from informers.resource import Resource
from tests.informers.support import Recorder, assert_indexes_consistent

PODS = Resource("", "v1", "pods", namespaced=True)


def pod(name: str, rv: str, node: str = "") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv},
        "spec": {"nodeName": node},
    }


def by_node(obj: dict[str, Any]) -> list[str]:
    node = obj["spec"].get("nodeName")
    return [node] if node else []  # IX-7


@pytest.fixture
async def informer() -> AsyncIterator[Informer]:
    async with client.ApiClient(client.Configuration()) as api:  # never called here
        yield Informer(api, PODS, indexers={"by-node": by_node})


def test_q7_q8_first_list_is_initial_and_has_synced_stays_true(informer: Informer) -> None:
    recorder = Recorder()
    informer.add_event_handler(recorder)
    assert not informer.has_synced()
    informer.replace([pod("a", "1")], "10")
    assert informer.has_synced()
    informer.replace([pod("a", "1"), pod("b", "2")], "11")
    assert recorder.events == [
        ("add", "ns/a", "1", True),
        ("update", "ns/a", "1", True),  # SI-2: same RV on a relist is a resync
        ("add", "ns/b", "2", False),  # not initial once synced
    ]
    assert informer.store.resource_version == "11"


def test_q2_relist_deletes_vanished_objects_first_with_their_last_state(
    informer: Informer,
) -> None:
    informer.replace([pod("a", "1", "n1"), pod("b", "2", "n1"), pod("c", "3", "n2")], "10")
    recorder = Recorder()
    seen: list[list[str]] = []
    informer.add_event_handler(recorder)
    informer.add_event_handler(
        HandlerFuncs(delete=lambda o: seen.append(informer.store.list_keys()))
    )
    recorder.events.clear()
    informer.replace([pod("c", "5", "n1"), pod("a", "1", "n1"), pod("d", "6")], "20")
    assert recorder.events == [
        ("delete", "ns/b", "2"),  # the last state the informer knew
        ("update", "ns/c", "5", False),
        ("update", "ns/a", "1", True),
        ("add", "ns/d", "6", False),
    ]
    assert seen == [["ns/c", "ns/a", "ns/d"]]  # the store was already replaced (SI-1)
    assert informer.store.index_keys("by-node", "n1") == ["ns/a", "ns/c"]
    assert informer.store.index_keys("by-node", "n2") == []
    assert_indexes_consistent(informer.store)


def test_si1_events_update_store_then_handlers_and_a_failing_handler_is_skipped(
    informer: Informer,
) -> None:
    informer.replace([], "1")

    def broken(obj: dict[str, Any], is_initial_list: bool) -> None:
        raise RuntimeError("handler bug")

    recorder = Recorder()
    informer.add_event_handler(HandlerFuncs(add=broken))
    informer.add_event_handler(recorder)
    informer.upsert(pod("a", "2", "n1"))
    informer.upsert(pod("a", "3", "n2"))
    informer.remove(pod("a", "4", "n2"))
    assert recorder.events == [
        ("add", "ns/a", "2", False),
        ("update", "ns/a", "3", False),
        ("delete", "ns/a", "4"),
    ]
    assert len(informer.store) == 0
    assert informer.store.list_index_func_values("by-node") == []
