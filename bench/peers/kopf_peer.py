"""The same job as our controller, written as a kopf operator the way kopf's documentation
shows: a create/resume handler per KusciaTask that calls our builders, applies what they
produce with server-side apply, records the same two Events and patches the same status.

Run: `kopf run --standalone -n NAMESPACE bench/peers/kopf_peer.py` (KUBECONFIG set).
AppImages and namespaces come from kopf indexes (kopf's in-memory lookup), not from a
GET per task. Its objects carry `kuscia.secretflow/controller: kusciakopf` instead of
`kusciatask` (same length): our controller's caches select on that label, so the two
can run side by side on one API server without our caches holding the peer's objects.
"""

from __future__ import annotations

import asyncio
import datetime
import os
from collections.abc import Mapping
from typing import Any

import kopf

from builders import BuildError, Cluster, plan
from builders.labels import CONTROLLER_LABEL, CONTROLLER_VALUE, PARTNER_LABEL, PARTNER_VALUE
from builders.models import AppImage, KusciaTask
from informers.store import object_key
from reconciler import task_status
from reconciler.kube import Kube, load_connection

PEER_VALUE = "kusciakopf"
FIELD_MANAGER = "kopf-peer"
APPLY_CONCURRENCY = 16  # as our controller's per-task limit
TASKS = "kusciatasks.v1alpha1.kuscia.secretflow"


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # The CRD's status has a schema, so kopf's own progress fields there would be pruned:
    # kopf's documentation says to keep its progress in annotations then.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage()
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage()
    # Watches that the server ends now and then, so a stalled stream cannot go unnoticed.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.posting.level = 20  # INFO: the two Events below are posted
    memo.api = await load_connection(os.environ.get("KUBECONFIG"), None)
    memo.api.user_agent = "kopf-peer"
    memo.kube = Kube(memo.api)
    memo.app_images = {}


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    await memo.api.close()


@kopf.index("appimages.v1alpha1.kuscia.secretflow")
def app_image_index(name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: dict(body)}


@kopf.index("namespaces")
def namespace_index(name: str, labels: kopf.Labels, **_: Any) -> dict[str, bool]:
    """Namespace name -> whether it is a partner's (not local)."""
    return {name: labels.get(PARTNER_LABEL) == PARTNER_VALUE}


# kopf passes each index as a keyword named after its function; its handler protocol
# does not list them, hence the ignore.
@kopf.on.resume(TASKS)
@kopf.on.create(TASKS)  # type: ignore[arg-type]
async def make_task_objects(
    body: kopf.Body,
    patch: kopf.Patch,
    memo: kopf.Memo,
    app_image_index: kopf.Index[str, dict[str, Any]],
    namespace_index: kopf.Index[str, bool],
    **_: Any,
) -> None:
    task = KusciaTask.model_validate(dict(body))
    images = {}
    for name in {p.app_image_ref for p in task.spec.parties}:
        for raw in app_image_index.get(name, []):
            images[name] = _app_image(memo, raw)
    partners = frozenset(n for n, flags in namespace_index.items() if any(flags))
    cluster = Cluster.of(namespace_index, partners)
    try:
        result = plan(task, images, cluster)
    except BuildError as error:
        if error.waiting:
            raise kopf.TemporaryError(str(error), delay=5) from error
        raise kopf.PermanentError(str(error)) from error

    limit = asyncio.Semaphore(APPLY_CONCURRENCY)

    async def apply(obj: Mapping[str, Any]) -> dict[str, Any]:
        async with limit:
            answer: dict[str, Any] = await memo.kube.apply(
                _relabel(obj), field_manager=FIELD_MANAGER, force=True
            )
            return answer

    applied = await asyncio.gather(*(apply(obj) for obj in result.objects))
    kopf.info(body, reason="ResourcesCreated", message=f"applied {len(applied)} objects")
    observed = task_status.Observed(
        pods={object_key(o): o for o in applied if o.get("kind") == "Pod"},
        services={object_key(o): o for o in applied if o.get("kind") == "Service"},
    )
    now = datetime.datetime.now(datetime.UTC)
    status = task_status.desired_status(task, {}, result, observed, now, all_objects_exist=True)
    patch.status.update(status)
    kopf.info(body, reason="Bound", message="bound to its AppImages")


def _app_image(memo: kopf.Memo, raw: Mapping[str, Any]) -> AppImage:
    """Parsed once per AppImage revision, as our controller does."""
    meta = raw["metadata"]
    revision = (meta["name"], meta.get("uid"), meta.get("generation"))
    model = memo.app_images.get(revision)
    if model is None:
        model = memo.app_images[revision] = AppImage.model_validate(raw)
    return model  # type: ignore[no-any-return]


def _relabel(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: PEER_VALUE if k == CONTROLLER_LABEL and v == CONTROLLER_VALUE else _relabel(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_relabel(v) for v in value]
    return value
