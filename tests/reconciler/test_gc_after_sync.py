"""What the initial sync cached is frozen out of the collector's sight, and full
collections, deferred while the caches fill, run as usual again once they are synced."""

from __future__ import annotations

import gc

from reconciler.controller import GC_THRESHOLD
from tests.reconciler.conftest import Cluster, RunController, wait_for


async def test_the_cached_objects_are_frozen_once_synced(
    cluster: Cluster, run_controller: RunController
) -> None:
    (home,) = cluster.namespaces(1)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    controller = await run_controller(namespace=home)
    await wait_for(controller.caches.has_synced, within=30)
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == GC_THRESHOLD
