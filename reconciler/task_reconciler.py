"""Reconciles one KusciaTask from the caches, in the README's steps: bind it to its
AppImages (reconciler.binding), apply what the builders made of it (skipping what
is already there), write the status when it changed (reconciler.task_status), record
Events, and clean up finished or deleted tasks (reconciler.finalizer)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog
from pydantic import ValidationError

from builders import BuildError, Plan
from builders.errors import Reason
from builders.fieldpath import first_error
from builders.labels import TASK_UID_LABEL
from builders.models import KusciaTask
from informers.clock import Clock
from informers.decoding import strip_managed_fields
from informers.store import object_key
from reconciler import cache_transforms, reservation, task_status
from reconciler.binding import Binder, Unbound
from reconciler.caches import Caches
from reconciler.drift import apply_needed
from reconciler.events import NORMAL, WARNING, EventRecorder
from reconciler.finalizer import FINALIZER, Finalizer
from reconciler.kube import ApiError, Kube, kind_of
from reconciler.outcome import Result
from reconciler.own_writes import OwnWrites
from reconciler.settings import Settings

log = structlog.get_logger(__name__)
NAME_CONFLICT = str(Reason.NAME_CONFLICT)
IGNORED_FIELD = "PartyTemplateFieldIgnored"  # the Warning Event of a party-template field not taken


# Passes of one reconcile (see `reconcile`): a fresh task takes two (objects made behind
# the reservation's gate, then the gates released); more means the rules keep moving.
MAX_PASSES = 4


@dataclass
class _Written:
    """What the passes of one reconcile wrote: objects as the server answered them, in
    the caches' form (newer than the caches, which have yet to see them), and objects
    deleted."""

    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    deleted: set[tuple[str, str]] = field(default_factory=set)


# ServiceAccount admission refuses a namespace's pods until its "default" ServiceAccount
# exists, which kube-controller-manager makes a moment after the namespace: not a verdict.
_MISSING_SERVICE_ACCOUNT = "error looking up service account"


def _passes_by_itself(error: ApiError) -> bool:
    """A refusal that goes away without anyone changing the task: retried with backoff."""
    return error.status == 403 and _MISSING_SERVICE_ACCOUNT in error.message


class TaskReconciler:
    """The KusciaTask reconciler: `reconcile(key)` for each key the task loop hands out."""

    def __init__(
        self,
        kube: Kube,
        caches: Caches,
        events: EventRecorder,
        settings: Settings,
        clock: Clock,
        *,
        own_writes: OwnWrites | None = None,
    ) -> None:
        self.kube = kube
        self.caches = caches
        self.events = events
        self.settings = settings
        self.clock = clock
        self.binder = Binder(caches, settings)
        self.finalizer = Finalizer(kube, caches, settings)
        # Task key -> the resourceVersion a status write of ours was based on, until the
        # cache shows a newer one: acting on that version again would undo the write
        # (say, re-create the pods of a task that has just succeeded and been cleaned).
        self._superseded: dict[str, set[str]] = {}
        self.own_writes = own_writes
        # The API server serves PodGroups: a new attempt makes each party one gang.
        self.gangs = False

    async def reconcile(self, key: str) -> Result:
        """Brings one task's objects and status to what the caches say they should be.

        The contract, as controller-runtime's Reconciler: it reads only the caches, so the
        same cache state gives the same writes and a settled task gets none; calling it
        again for a key is always safe; it raises only for what a retry may fix (talking
        to the API server), and reports every problem of the task on the task itself. The
        Result says when to look again without an event (a deadline).

        A pass that writes the status is followed by another over what the server
        answered (the task as written, the objects as applied), until one writes no
        status: the next step of the rules (a reservation's gates released once all
        objects exist) happens at once, and when the reconcile returns, the task is at a
        fixed point, so the watch events of its own writes need not bring it back
        (reconciler.own_writes)."""
        raw = self.caches.tasks.store.get_by_key(key)
        if raw is None:
            self._superseded.pop(key, None)
            return Result()
        if key in self._superseded:
            if raw["metadata"].get("resourceVersion") in self._superseded[key]:
                # Older than a status write of ours, whose own event is still to come;
                # it must bring the task back here even though the write was ours.
                if self.own_writes is not None:
                    self.own_writes.forget(str(raw.get("kind")), key)
                return Result()
            del self._superseded[key]
        done = _Written()
        stale: set[str] = set()
        for _ in range(MAX_PASSES):
            result, written = await self._pass(raw, done, stale)
            if written is None:
                return result
            stale.add(str(raw["metadata"].get("resourceVersion") or ""))
            self._superseded[key] = stale - {""}
            raw = written
        return Result(requeue_after=0.0)  # still moving: look again, from the caches

    async def _pass(
        self, raw: dict[str, Any], done: _Written, stale: set[str]
    ) -> tuple[Result, dict[str, Any] | None]:
        """One pass of the rules over `raw`; also returns the task as the server answered
        a status write of this pass (None when it wrote none)."""
        try:
            task = KusciaTask.model_validate(raw)
        except ValidationError as error:
            await self._report_invalid_task(raw, error)
            return Result(), None
        if task.metadata.deletion_timestamp:
            return await self.finalizer.finalize(task), None
        if task.status.phase in task_status.FINISHED:
            await self.finalizer.clean_finished(task, done.deleted)
            return Result(), None
        if FINALIZER not in task.metadata.finalizers:
            marked = await self.finalizer.set_finalizer(task, present=True)
            stale.add(str((marked or {}).get("metadata", {}).get("resourceVersion") or ""))
        now = self.clock.wall()
        old_status = raw.get("status") or {}
        made_before = task_status.resources_created(old_status)  # the stored status says so
        before = reservation.before_apply(
            old_status.get("reservation") or {},
            task_pods_exist=any(
                ("Pod", object_key(p)) not in done.deleted
                for p in self.caches.children_of(task.metadata.uid)["Pod"]
            ),
            already_created=made_before,
            now=now.timestamp(),
            gangs=self.gangs,
        )
        # 1. bind
        binding = self.binder.bind(
            task, objects_exist=made_before, held=before.held, gangs=before.gangs
        )
        if isinstance(binding, Unbound) and made_before:
            # Its objects run, but what they were built from is gone (an AppImage
            # deleted or broken while this process was down): keep the last status.
            lost = binding.error
            await self.events.emit(_ref(task), WARNING, lost.reason, lost.message)
            return Result(), None
        # 2. apply. `all_objects_exist`: every object of the plan exists now, applied this round
        # or found unchanged; the status rules judge pods only then.
        outcome: Plan | BuildError
        if isinstance(binding, Unbound):
            outcome, all_objects_exist = binding.error, False
        elif binding.revision_lost:
            outcome, all_objects_exist = binding.plan, True  # reported on, never applied over
        else:
            wanted = [o for o in binding.plan.objects if before.make_pods or o["kind"] != "Pod"]
            refused = await self._apply(task, binding.plan, wanted, done)
            if refused is not None:  # the task fails with its reason
                outcome, all_objects_exist = refused, False
            else:
                outcome, all_objects_exist = binding.plan, True
        # 3. status
        observed = self._observed(task, done)
        created_at = task_status.parse_time(task.metadata.creation_timestamp) or now
        lifecycle_end = task_status.lifecycle_deadline(task, created_at)
        reserved: reservation.After | None = None
        if isinstance(outcome, Plan):
            reserved = reservation.after_apply(
                task,
                before,
                all_objects_exist=all_objects_exist,
                parties=reservation.placements(outcome, observed.pods),
                now=now.timestamp(),
                expired=now.timestamp() >= lifecycle_end,
            )
        status = task_status.desired_status(
            task,
            old_status,
            outcome,
            observed,
            now,
            all_objects_exist=all_objects_exist,
            reservation=reserved,
        )
        # 4. events (in _write_status, on a transition) and cleanup
        written = await self._write_status(task, raw, status)
        if reserved is not None:
            await self._act_on_reservation(task, old_status, reserved, done)
        if status.get("phase") in task_status.FINISHED:
            finished = KusciaTask.model_validate({**raw, "status": status})
            await self.finalizer.clean_finished(finished, done.deleted)
        if status.get("phase") == task_status.PENDING:
            # Waiting for an AppImage or namespace, for the reservation's next deadline,
            # or for pods that never start: look again then (SPEC §6), no polling.
            wake_at = lifecycle_end
            if reserved is not None and reserved.wake_at is not None:
                wake_at = min(wake_at, reserved.wake_at)
            wait = max(wake_at - self.clock.wall().timestamp(), 0.0) + 0.5
            return Result(requeue_after=wait), written
        return Result(), written

    async def _act_on_reservation(
        self,
        task: KusciaTask,
        old_status: Mapping[str, Any],
        after: reservation.After,
        done: _Written,
    ) -> None:
        """After the status that records it is written: a failed reservation's pods go
        (again, if a restart came between), and a transition is an Event."""
        if after.remove_pods:
            pods = self.caches.children_of(task.metadata.uid)["Pod"]
            await self.finalizer.delete(
                [("Pod", p) for p in pods if not p["metadata"].get("deletionTimestamp")],
                done.deleted,
            )
        before = (old_status.get("reservation") or {}).get("phase")
        if after.event is not None and before != after.state.get("phase"):
            reason, message = after.event
            await self.events.emit(
                _ref(task), WARNING if after.warning else NORMAL, reason, message
            )

    # --- applying ----------------------------------------------------------------

    async def _apply(
        self, task: KusciaTask, result: Plan, objects: Sequence[dict[str, Any]], done: _Written
    ) -> BuildError | None:
        """Applies every one of `objects` (the plan's, or all but its pods) the live
        one does not already match, keeping what the server answered in `done`, so the
        status can count them before the caches do; returns why the server refused them
        (a name that is not ours, an object it will not take): never retried, the task
        fails."""
        uid = task.metadata.uid
        conflicts: list[str] = []
        pending: list[tuple[Mapping[str, Any], bool]] = []
        for obj in objects:
            live = done.objects.get((str(obj["kind"]), object_key(obj))) or self._live(obj)
            owner = ((live or {}).get("metadata", {}).get("labels") or {}).get(TASK_UID_LABEL)
            if live is not None and owner != uid:
                conflicts.append(f"{_describe(obj)} already belongs to another task ({owner})")
            elif apply_needed(live, obj):
                # Force only over an object that is ours; a stranger's object of the
                # same name then answers 409 instead of being taken over.
                pending.append((obj, live is not None))
        if conflicts:
            return BuildError(NAME_CONFLICT, "; ".join(sorted(conflicts)), waiting=False)
        if not pending:
            return None
        limiter = anyio.CapacityLimiter(self.settings.apply_concurrency)
        failures: list[tuple[str, str]] = []

        async def apply_one(obj: Mapping[str, Any], force: bool) -> None:
            async with limiter:
                try:
                    answer = await self._apply_ours(obj, uid, force=force)
                    # In the caches' form, so the next pass compares it as it would a
                    # cached object (a ConfigMap's data as digests).
                    kind = str(obj["kind"])
                    done.objects[(kind, object_key(obj))] = cache_transforms.for_kind(kind)(answer)
                except ApiError as error:
                    if error.conflict:
                        message = f"{_describe(obj)} exists and is not ours: {error.message}"
                        failures.append((NAME_CONFLICT, message))
                    elif error.status in (400, 403, 404, 413, 422) and not _passes_by_itself(error):
                        failures.append(("ApplyFailed", f"{_describe(obj)}: {error.message}"))
                    else:
                        raise

        async with anyio.create_task_group() as group:
            for desired, force in pending:
                group.start_soon(apply_one, desired, force)
        if failures:
            failures.sort()
            return BuildError(failures[0][0], "; ".join(m for _, m in failures), waiting=False)
        if task.status.phase == "":
            await self.events.emit(
                _ref(task), NORMAL, "ResourcesCreated", f"applied {len(pending)} objects"
            )
        for warning in result.warnings:
            await self.events.emit(_ref(task), WARNING, "UnknownTemplateVariable", warning.message)
        for ignored in result.ignored_fields:
            await self.events.emit(_ref(task), WARNING, IGNORED_FIELD, ignored.message)
        return None

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
        return informer.store.get_by_key(object_key(obj))

    def _observed(self, task: KusciaTask, done: _Written) -> task_status.Observed:
        children = self.caches.children_of(task.metadata.uid)
        pods = {object_key(p): p for p in children["Pod"]}
        services = {object_key(s): s for s in children["Service"]}
        for (kind, key), obj in done.objects.items():
            if kind == "Pod":
                pods.setdefault(key, obj)
            elif kind == "Service":
                services.setdefault(key, obj)
        return task_status.Observed(pods=pods, services=services)

    # --- status and events -----------------------------------------------------

    async def _write_status(
        self, task: KusciaTask, raw: Mapping[str, Any], status: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Writes `status` if it changed; returns the task as the server answered."""
        old = raw.get("status") or {}
        if old == status:
            return None
        body = {
            "apiVersion": raw["apiVersion"],
            "kind": raw["kind"],
            "metadata": {"name": task.metadata.name, "namespace": task.metadata.namespace},
            "status": status,
        }
        written = await self.kube.apply(
            body, field_manager=self.settings.field_manager, subresource="status"
        )
        await self._emit_transition(task, old, status)
        return strip_managed_fields(written)

    async def _emit_transition(
        self, task: KusciaTask, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> None:
        before = (old.get("phase"), old.get("reason"))
        after = (new.get("phase"), new.get("reason"))
        if before == after:
            return
        new_phase, reason, message = after[0], str(new.get("reason") or ""), new.get("message", "")
        if (
            not old.get("phase")
            and new_phase != task_status.PENDING
            and task_status.resources_created(new)
        ):
            # Bound and already moving on in its first status: both steps are news.
            await self.events.emit(_ref(task), NORMAL, "Bound", "bound to its AppImages")
        if new_phase == task_status.FAILED:
            await self.events.emit(_ref(task), WARNING, reason or "Failed", str(message))
        elif new_phase == task_status.PENDING and reason:
            await self.events.emit(_ref(task), WARNING, reason, str(message))
        elif new_phase == task_status.PENDING:
            await self.events.emit(_ref(task), NORMAL, "Bound", "bound to its AppImages")
        elif new_phase == task_status.RUNNING:
            await self.events.emit(_ref(task), NORMAL, "Running", "a pod has started")
        elif new_phase == task_status.SUCCEEDED:
            await self.events.emit(_ref(task), NORMAL, "Succeeded", str(message))

    async def _report_invalid_task(self, raw: Mapping[str, Any], error: ValidationError) -> None:
        meta = raw["metadata"]
        message = f"KusciaTask {meta.get('namespace')}/{meta['name']}: {first_error(error)}"
        old = raw.get("status") or {}
        if old.get("phase") == task_status.FAILED and old.get("reason") == "InvalidTask":
            return
        now = task_status.timestamp(self.clock.wall())
        status = {
            "phase": task_status.FAILED,
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


def _describe(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{obj['kind']} {meta.get('namespace')}/{meta['name']}"


def _ref(task: KusciaTask) -> dict[str, Any]:
    return {
        "apiVersion": task.api_version,
        "kind": task.kind,
        "metadata": task.metadata.model_dump(by_alias=True, include={"name", "namespace", "uid"}),
    }
