"""Reconciles one KusciaTask from the caches: bind it to its AppImages, apply
what the builders produce (skipping what is already there), write the status
when it changed, record Events, and clean up finished or deleted tasks."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import structlog
from pydantic import ValidationError

from builders import BuildError, Cluster, Plan, plan
from builders.errors import Reason
from builders.labels import PARTNER_LABEL, PARTNER_VALUE, TASK_UID_LABEL
from builders.models import AppImage, KusciaTask
from informers.clock import Clock
from reconciler import phase, reservation, signing
from reconciler.caches import Caches
from reconciler.drift import apply_needed
from reconciler.events import NORMAL, WARNING, EventRecorder
from reconciler.kube import KINDS, ApiError, Kube, kind_of
from reconciler.settings import Settings

log = structlog.get_logger(__name__)
FINALIZER = "kuscia.secretflow/kusciatask-cleanup"
NAME_CONFLICT = str(Reason.NAME_CONFLICT)
IGNORED_FIELD = "PartyTemplateFieldIgnored"  # the Warning Event of a party-template field not taken
REVISIONS_KEPT = 512  # parsed AppImage revisions remembered (they are few and shared)
FINALIZE_RECHECK = 1.0  # seconds before a deleted task's server-side leftovers are listed again


class PermanentError(Exception):
    """An error retrying cannot fix; it is reported on the task, not retried."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Result:
    requeue_after: float | None = None


class TaskReconciler:
    def __init__(
        self,
        kube: Kube,
        caches: Caches,
        events: EventRecorder,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.kube = kube
        self.caches = caches
        self.events = events
        self.settings = settings
        self.clock = clock
        # AppImage revisions by (name, uid, generation): the status subresource
        # moves resourceVersion without changing the spec, generation does not.
        self._revisions: OrderedDict[tuple[str, str, int], AppImage] = OrderedDict()
        # Task key -> the resourceVersion a status write of ours was based on, until the
        # cache shows a newer one: acting on that version again would undo the write
        # (say, re-create the pods of a task that has just succeeded and been cleaned).
        self._superseded: dict[str, str] = {}
        # The API server serves PodGroups: a new attempt makes each party one gang.
        self.gangs = False

    async def reconcile(self, key: str) -> Result:
        raw = self.caches.tasks.store.get_by_key(key)
        if raw is None:
            self._superseded.pop(key, None)
            return Result()
        if key in self._superseded:
            if raw["metadata"].get("resourceVersion") == self._superseded[key]:
                return Result()  # our write's own event brings the task back here
            del self._superseded[key]
        try:
            task = KusciaTask.model_validate(raw)
        except ValidationError as error:
            await self._report_invalid_task(raw, error)
            return Result()
        if task.metadata.deletion_timestamp:
            return await self._finalize(task)
        if task.status.phase in phase.FINISHED:
            await self._clean_finished(task)
            return Result()
        if FINALIZER not in task.metadata.finalizers:
            await self._set_finalizer(task, present=True)
        now = self.clock.wall()
        old_status = raw.get("status") or {}
        before = reservation.before_apply(
            old_status.get("reservation") or {},
            task_pods_exist=bool(self.caches.children_of(task.metadata.uid)["Pod"]),
            already_created=_resources_created(task),
            now=now.timestamp(),
            gangs=self.gangs,
        )
        outcome, frozen = self._plan(task, held=before.held, gangs=before.gangs)
        if isinstance(outcome, BuildError) and _resources_created(task):
            # Its objects run, but what they were built from is gone (an AppImage
            # deleted or broken while this process was down): keep the last status.
            await self.events.emit(_ref(task), WARNING, outcome.reason, outcome.message)
            return Result()
        created = frozen
        applied: list[dict[str, Any]] = []
        if isinstance(outcome, Plan) and not frozen:
            wanted = [o for o in outcome.objects if before.make_pods or o["kind"] != "Pod"]
            try:
                applied = await self._apply(task, outcome, wanted)
                created = True
            except PermanentError as error:
                outcome = BuildError(error.reason, str(error), waiting=False)
        observed = self._observed(task, applied)
        created_at = phase.parse_time(task.metadata.creation_timestamp) or now
        lifecycle_end = phase.lifecycle_deadline(task, created_at)
        reserved: reservation.After | None = None
        if isinstance(outcome, Plan):
            reserved = reservation.after_apply(
                task,
                before,
                created=created,
                parties=reservation.placements(outcome, observed.pods),
                now=now.timestamp(),
                expired=now.timestamp() >= lifecycle_end,
            )
        status = phase.desired_status(
            task, old_status, outcome, observed, now, created=created, reservation=reserved
        )
        await self._write_status(task, raw, status)
        if reserved is not None:
            await self._act_on_reservation(task, old_status, reserved)
        if status.get("phase") in phase.FINISHED:
            await self._clean_finished(KusciaTask.model_validate({**raw, "status": status}))
        if status.get("phase") == phase.PENDING:
            # Waiting for an AppImage or namespace, for the reservation's next deadline,
            # or for pods that never start: look again then (SPEC §6), no polling.
            wake_at = lifecycle_end
            if reserved is not None and reserved.wake_at is not None:
                wake_at = min(wake_at, reserved.wake_at)
            return Result(requeue_after=max(wake_at - self.clock.wall().timestamp(), 0.0) + 0.5)
        return Result()

    async def _act_on_reservation(
        self, task: KusciaTask, old_status: Mapping[str, Any], after: reservation.After
    ) -> None:
        """After the status that records it is written: a failed reservation's pods go
        (again, if a restart came between), and a transition is an Event."""
        if after.remove_pods:
            pods = self.caches.children_of(task.metadata.uid)["Pod"]
            await self._delete(
                [("Pod", p) for p in pods if not p["metadata"].get("deletionTimestamp")]
            )
        before = (old_status.get("reservation") or {}).get("phase")
        if after.event is not None and before != after.state.get("phase"):
            reason, message = after.event
            await self.events.emit(
                _ref(task), WARNING if after.warning else NORMAL, reason, message
            )

    # --- binding ---------------------------------------------------------------

    def _plan(self, task: KusciaTask, *, held: bool, gangs: bool) -> tuple[Plan | BuildError, bool]:
        """The task's plan, and whether it must not be applied.

        Once a task's objects exist it is built from the AppImage revisions it
        was bound to, so a later AppImage edit never touches what it runs
        (SPEC §2). Revisions are remembered in memory; after a restart that
        lost one, the task is reported on but nothing is applied over it.
        """
        bound = (
            {
                b.app_image_ref: (b.app_image_ref, b.uid, b.generation or 0)
                for b in task.status.bound_app_images
            }
            if _resources_created(task)
            else {}
        )
        app_images: dict[str, AppImage] = {}
        frozen = False
        for name in {p.app_image_ref for p in task.spec.parties}:
            remembered = self._revisions.get(bound[name]) if name in bound else None
            if remembered is not None:  # what the task runs, whatever the AppImage is now
                app_images[name] = remembered
                continue
            loaded = self._app_image(name)
            if isinstance(loaded, BuildError):
                return loaded, False
            if loaded is not None:
                app_images[name] = loaded
                frozen = frozen or (name in bound and _revision(loaded) != bound[name])
        if not _resources_created(task):
            unsigned = self._signature_error(task, app_images)
            if unsigned is not None:
                return unsigned, False
        namespaces = self.caches.namespaces.store.list()
        existing = frozenset(ns["metadata"]["name"] for ns in namespaces)
        partners = self.caches.partner_domains() | frozenset(
            ns["metadata"]["name"]
            for ns in namespaces
            if (ns["metadata"].get("labels") or {}).get(PARTNER_LABEL) == PARTNER_VALUE
        )
        try:
            cluster = Cluster(namespaces=existing, partners=partners)
            return plan(task, app_images, cluster, held=held, gangs=gangs), frozen
        except BuildError as error:
            return error, False

    def _signature_error(
        self, task: KusciaTask, app_images: Mapping[str, AppImage]
    ) -> BuildError | None:
        """Checked when a task binds: once its objects exist, a later AppImage edit
        (signature included) never touches what it runs (SPEC §2)."""
        for index, party in enumerate(task.spec.parties):
            app_image = app_images.get(party.app_image_ref)
            problem = app_image and signing.check(self.settings.image_verify_keys, app_image)
            if problem:
                return BuildError(
                    problem.reason,
                    f"task {task.metadata.namespace}/{task.metadata.name} party "
                    f"{party.domain_id}/{party.role} (spec.parties[{index}].appImageRef): "
                    f"{problem.message}",
                    waiting=False,
                    app_image=party.app_image_ref,
                    field=problem.field,
                )
        return None

    def _app_image(self, name: str) -> AppImage | BuildError | None:
        raw = self.caches.app_images.store.get_by_key(name)
        if raw is None:
            return None
        meta = raw["metadata"]
        revision = (name, str(meta.get("uid", "")), int(meta.get("generation") or 0))
        cached = self._revisions.get(revision)
        if cached is not None:
            self._revisions.move_to_end(revision)
            return cached
        try:
            model = AppImage.model_validate(raw)
        except ValidationError as error:
            message = f"AppImage {name}: {_first_error(error)}"
            return BuildError("InvalidAppImage", message, waiting=False, app_image=name)
        self._revisions[revision] = model
        while len(self._revisions) > REVISIONS_KEPT:
            self._revisions.popitem(last=False)
        return model

    # --- applying ----------------------------------------------------------------

    async def _apply(
        self, task: KusciaTask, result: Plan, objects: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Applies every one of `objects` (the plan's, or all but its pods) the live
        one does not already match; returns what the server answered, so the status
        can count them before the caches do."""
        uid = task.metadata.uid
        conflicts: list[str] = []
        pending: list[tuple[Mapping[str, Any], bool]] = []
        for obj in objects:
            live = self._live(obj)
            owner = ((live or {}).get("metadata", {}).get("labels") or {}).get(TASK_UID_LABEL)
            if live is not None and owner != uid:
                conflicts.append(f"{_describe(obj)} already belongs to another task ({owner})")
            elif apply_needed(live, obj):
                # Force only over an object that is ours; a stranger's object of the
                # same name then answers 409 instead of being taken over.
                pending.append((obj, live is not None))
        if conflicts:
            raise PermanentError(NAME_CONFLICT, "; ".join(sorted(conflicts)))
        if not pending:
            return []
        limiter = anyio.CapacityLimiter(self.settings.apply_concurrency)
        failures: list[tuple[str, str]] = []
        applied: list[dict[str, Any]] = []

        async def apply_one(obj: Mapping[str, Any], force: bool) -> None:
            async with limiter:
                try:
                    applied.append(await self._apply_ours(obj, uid, force=force))
                except ApiError as error:
                    if error.conflict:
                        message = f"{_describe(obj)} exists and is not ours: {error.message}"
                        failures.append((NAME_CONFLICT, message))
                    elif error.status in (400, 403, 404, 413, 422):
                        failures.append(("ApplyFailed", f"{_describe(obj)}: {error.message}"))
                    else:
                        raise

        async with anyio.create_task_group() as group:
            for desired, force in pending:
                group.start_soon(apply_one, desired, force)
        if failures:
            failures.sort()
            raise PermanentError(failures[0][0], "; ".join(m for _, m in failures))
        if task.status.phase == "":
            await self.events.emit(
                _ref(task), NORMAL, "ResourcesCreated", f"applied {len(pending)} objects"
            )
        for warning in result.warnings:
            await self.events.emit(_ref(task), WARNING, "UnknownTemplateVariable", warning.message)
        for ignored in result.ignored_fields:
            await self.events.emit(_ref(task), WARNING, IGNORED_FIELD, ignored.message)
        return applied

    async def _apply_ours(self, obj: Mapping[str, Any], uid: str, *, force: bool) -> dict[str, Any]:
        """Applies `obj`, forced only over an object of that name that is this task's. A 409
        from an object labelled with this task's uid means someone changed the label that
        puts it in our cache (so `_live` missed it): it is ours, and is taken back."""
        manager = self.settings.field_manager
        try:
            return await self.kube.apply(obj, field_manager=manager, force=force)
        except ApiError as error:
            if force or not error.conflict:
                raise
            meta = obj["metadata"]
            path = kind_of(obj).path(meta["namespace"], meta["name"])
            labels = (await self.kube.request("GET", path))["metadata"].get("labels") or {}
            if labels.get(TASK_UID_LABEL) != uid:
                raise
        return await self.kube.apply(obj, field_manager=manager, force=True)

    def _live(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        informer = self.caches.children.get(str(obj["kind"]))
        if informer is None:
            return None
        meta = obj["metadata"]
        return informer.store.get_by_key(f"{meta['namespace']}/{meta['name']}")

    def _observed(self, task: KusciaTask, applied: Sequence[dict[str, Any]]) -> phase.Observed:
        children = self.caches.children_of(task.metadata.uid)
        fresh = {(o.get("kind"), _key(o)): o for o in applied}
        pods = {_key(p): p for p in children["Pod"]}
        services = {_key(s): s for s in children["Service"]}
        for (kind, key), obj in fresh.items():
            if kind == "Pod":
                pods.setdefault(key, obj)
            elif kind == "Service":
                services.setdefault(key, obj)
        return phase.Observed(pods=pods, services=services)

    # --- status and events -----------------------------------------------------

    async def _write_status(
        self, task: KusciaTask, raw: Mapping[str, Any], status: dict[str, Any]
    ) -> None:
        old = raw.get("status") or {}
        if old == status:
            return
        body = {
            "apiVersion": raw["apiVersion"],
            "kind": raw["kind"],
            "metadata": {"name": task.metadata.name, "namespace": task.metadata.namespace},
            "status": status,
        }
        written = await self.kube.apply(
            body, field_manager=self.settings.field_manager, subresource="status"
        )
        based_on = raw["metadata"].get("resourceVersion")
        if based_on and written.get("metadata", {}).get("resourceVersion") != based_on:
            self._superseded[_key(raw)] = based_on
        await self._emit_transition(task, old, status)

    async def _emit_transition(
        self, task: KusciaTask, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> None:
        before = (old.get("phase"), old.get("reason"))
        after = (new.get("phase"), new.get("reason"))
        if before == after:
            return
        new_phase, reason, message = after[0], str(new.get("reason") or ""), new.get("message", "")
        if not old.get("phase") and new_phase != phase.PENDING and phase.resources_created(new):
            # Bound and already moving on in its first status: both steps are news.
            await self.events.emit(_ref(task), NORMAL, "Bound", "bound to its AppImages")
        if new_phase == phase.FAILED:
            await self.events.emit(_ref(task), WARNING, reason or "Failed", str(message))
        elif new_phase == phase.PENDING and reason:
            await self.events.emit(_ref(task), WARNING, reason, str(message))
        elif new_phase == phase.PENDING:
            await self.events.emit(_ref(task), NORMAL, "Bound", "bound to its AppImages")
        elif new_phase == phase.RUNNING:
            await self.events.emit(_ref(task), NORMAL, "Running", "a pod has started")
        elif new_phase == phase.SUCCEEDED:
            await self.events.emit(_ref(task), NORMAL, "Succeeded", str(message))

    async def _report_invalid_task(self, raw: Mapping[str, Any], error: ValidationError) -> None:
        meta = raw["metadata"]
        message = f"KusciaTask {meta.get('namespace')}/{meta['name']}: {_first_error(error)}"
        old = raw.get("status") or {}
        if old.get("phase") == phase.FAILED and old.get("reason") == "InvalidTask":
            return
        now = phase.timestamp(self.clock.wall())
        status = {
            "phase": phase.FAILED,
            "reason": "InvalidTask",
            "message": message,
            "startTime": old.get("startTime") or now,
            "completionTime": now,
            "lastReconcileTime": now,
        }
        body = {
            "apiVersion": raw["apiVersion"],
            "kind": raw["kind"],
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace")},
            "status": status,
        }
        await self.kube.apply(body, field_manager=self.settings.field_manager, subresource="status")
        await self.events.emit(raw, WARNING, "InvalidTask", message)

    # --- cleanup -----------------------------------------------------------------

    async def _clean_finished(self, task: KusciaTask) -> None:
        """Finished: Pods go (failed ones stay for debugging); on success ConfigMaps too."""
        if self.settings.keep_finished:
            return
        children = self.caches.children_of(task.metadata.uid)
        doomed = [
            ("Pod", pod)
            for pod in children["Pod"]
            if (pod.get("status") or {}).get("phase") != phase.FAILED
            and not pod["metadata"].get("deletionTimestamp")
        ]
        if task.status.phase == phase.SUCCEEDED:
            doomed += [("ConfigMap", cm) for cm in children["ConfigMap"]]
        await self._delete(doomed)

    async def _finalize(self, task: KusciaTask) -> Result:
        """Deleted: remove every object the task made, in every namespace, then let it go."""
        uid = task.metadata.uid
        children = self.caches.children_of(uid)
        doomed = [(kind, obj) for kind, objs in children.items() for obj in objs]
        seen_by_cache = bool(doomed)
        if not doomed:
            # Each kind is watched on its own stream, so the deletion can arrive before
            # the events of objects applied a moment ago: ask the server, not the
            # caches, before letting the task go.
            doomed = await self._children_on_server(task)
        await self._delete(
            [(k, o) for k, o in doomed if not o["metadata"].get("deletionTimestamp")]
        )
        if doomed:
            # The children's delete events bring the task back here; those the caches
            # never saw are looked for again in a moment.
            return Result() if seen_by_cache else Result(requeue_after=FINALIZE_RECHECK)
        if FINALIZER in task.metadata.finalizers:
            await self._set_finalizer(task, present=False)
        return Result()

    async def _children_on_server(self, task: KusciaTask) -> list[tuple[str, dict[str, Any]]]:
        """The task's objects in its parties' namespaces (where the builders put them),
        listed on the server by the task's uid label."""
        selector = [("labelSelector", f"{TASK_UID_LABEL}={task.metadata.uid}")]
        found: list[tuple[str, dict[str, Any]]] = []

        async def list_one(kind: str, namespace: str) -> None:
            listed = await self.kube.request("GET", KINDS[kind].path(namespace), query=selector)
            found.extend((kind, obj) for obj in listed.get("items") or [])

        async with anyio.create_task_group() as group:
            for namespace in sorted({party.domain_id for party in task.spec.parties}):
                for kind in self.caches.children:  # PodGroups too, where served
                    group.start_soon(list_one, kind, namespace)
        return found

    async def _delete(self, objects: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        async with anyio.create_task_group() as group:
            for kind, obj in objects:
                meta = obj["metadata"]
                group.start_soon(self.kube.delete, KINDS[kind], meta["namespace"], meta["name"])

    async def _set_finalizer(self, task: KusciaTask, *, present: bool) -> None:
        body = {
            "apiVersion": task.api_version,
            "kind": task.kind,
            "metadata": {
                "name": task.metadata.name,
                "namespace": task.metadata.namespace,
                # The uid makes the apply a precondition: a task deleted since the
                # cache saw it answers 409 instead of being created again.
                "uid": task.metadata.uid,
                "finalizers": [FINALIZER] if present else [],
            },
        }
        try:
            await self.kube.apply(body, field_manager=self.settings.field_manager)
        except ApiError as error:
            if not (error.not_found or error.conflict):
                raise


def _describe(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{obj['kind']} {meta.get('namespace')}/{meta['name']}"


def _key(obj: Mapping[str, Any]) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"


def _ref(task: KusciaTask) -> dict[str, Any]:
    return {
        "apiVersion": task.api_version,
        "kind": task.kind,
        "metadata": task.metadata.model_dump(by_alias=True, include={"name", "namespace", "uid"}),
    }


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}"


def _revision(app_image: AppImage) -> tuple[str, str, int]:
    meta = app_image.metadata
    return (meta.name, meta.uid, meta.generation)


def _resources_created(task: KusciaTask) -> bool:
    return any(c.type == "ResourceCreated" and c.status == "True" for c in task.status.conditions)
