"""The yardstick every fault scenario ends with: the objects `builders.plan()` says
the cluster's tasks should have, compared with the live ones by name, labels and a
content fingerprint, so a missing, extra, duplicated or wrong object is named.

The fingerprint is taken over the live object cut down to the fields the plan
sets (lists matched item by item), so fields the API server adds (defaults,
status, uid) do not count, while any field we set that differs does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from builders import BuildError, Cluster, plan
from builders.labels import PARTNER_LABEL, PARTNER_VALUE, TASK_UID_LABEL
from builders.models import AppImage, KusciaTask

Key = tuple[str, str, str]  # (kind, namespace, name)
POD_IDENTITY_LABEL = "kuscia.secretflow/pod-identity"


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return (str(obj["kind"]), str(meta.get("namespace") or ""), str(meta["name"]))


def describe(key: Key) -> str:
    return f"{key[0]} {key[1]}/{key[2]}"


def fingerprint(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def project(live: Any, desired: Any) -> Any:
    """`live` cut down to the shape of `desired`: maps keep only the desired keys, lists of
    the same length are cut item by item; anything else is kept as it is (and so differs)."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return live
        return {k: project(live[k], v) for k, v in desired.items() if k in live}
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return live
        return [project(item, wanted) for item, wanted in zip(live, desired, strict=True)]
    return live


def carries(live: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """True when the live object has every field of `desired` with the same value."""
    return fingerprint(project(live, desired)) == fingerprint(desired)


def desired_objects(
    tasks: Iterable[Mapping[str, Any]],
    app_images: Iterable[Mapping[str, Any]],
    namespaces: Iterable[Mapping[str, Any]],
) -> dict[Key, dict[str, Any]]:
    """Every object the builders say these tasks should have, by key; a task the builders
    reject fails the caller's check with the builders' message."""
    images = {str(i["metadata"]["name"]): AppImage.model_validate(i) for i in app_images}
    namespace_list = list(namespaces)
    cluster = Cluster(
        namespaces=frozenset(str(n["metadata"]["name"]) for n in namespace_list),
        partners=frozenset(
            str(n["metadata"]["name"])
            for n in namespace_list
            if (n["metadata"].get("labels") or {}).get(PARTNER_LABEL) == PARTNER_VALUE
        ),
    )
    wanted: dict[Key, dict[str, Any]] = {}
    for raw in tasks:
        task = KusciaTask.model_validate(raw)
        try:
            result = plan(task, images, cluster)
        except BuildError as error:
            raise AssertionError(
                f"the builders reject task {task.metadata.name}: {error}"
            ) from error
        for obj in result.objects:
            key = key_of(obj)
            assert key not in wanted, f"two tasks plan the same object {describe(key)}"
            wanted[key] = obj
    return wanted


def differences(
    wanted: Mapping[Key, Mapping[str, Any]],
    live: Mapping[Key, Mapping[str, Any]],
    task_uids: Iterable[str],
) -> list[str]:
    """Every way the live objects differ from the wanted ones; empty when they match."""
    problems = [f"missing: {describe(k)}" for k in sorted(wanted.keys() - live.keys())]
    problems += [
        f"not in the plan: {describe(k)} (task uid {_labels(live[k]).get(TASK_UID_LABEL)})"
        for k in sorted(live.keys() - wanted.keys())
    ]
    for key in sorted(wanted.keys() & live.keys()):
        desired, actual = wanted[key], live[key]
        if _labels(actual) != _labels(desired):
            problems.append(
                f"labels of {describe(key)}: {_labels(actual)} instead of {_labels(desired)}"
            )
        if not carries(actual, desired):
            problems.append(
                f"content of {describe(key)}: fingerprint "
                f"{fingerprint(project(actual, desired))} instead of {fingerprint(desired)}"
            )
    uids = set(task_uids)
    orphans = [k for k, obj in live.items() if _labels(obj).get(TASK_UID_LABEL) not in uids]
    problems += [f"orphan (no such task): {describe(k)}" for k in sorted(orphans)]
    identities: dict[tuple[str, str], Key] = {}
    for key, obj in sorted(live.items()):
        identity = _labels(obj).get(POD_IDENTITY_LABEL)
        if key[0] != "Pod" or identity is None:
            continue
        first = identities.setdefault((key[1], identity), key)
        if first != key:
            problems.append(f"duplicate pod identity {identity}: {describe(first)} and {key[2]}")
    return problems


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict(obj["metadata"].get("labels") or {})


def respecified(live: Mapping[Key, Mapping[str, Any]]) -> list[str]:
    """Objects whose spec changed after they were made (metadata.generation past 1). A
    Pod's one allowed change is its reservation gate coming off: generation 2, ungated."""

    def allowed(key: Key, obj: Mapping[str, Any]) -> int:
        released = key[0] == "Pod" and not (obj.get("spec") or {}).get("schedulingGates")
        return 2 if released else 1

    return [
        f"{describe(key)} is at generation {obj['metadata']['generation']}"
        for key, obj in sorted(live.items())
        if int(obj["metadata"].get("generation") or 1) > allowed(key, obj)
    ]
