"""Binding: which AppImage revisions a task is built from, or why it cannot be built.

Once a task's objects exist it stays built from the revisions it was bound to
(`status.boundAppImages`), so a later AppImage edit never touches what it runs
(SPEC §2). Those revisions are remembered here, in memory, by (name, uid,
generation); after a restart that lost one, the task is reported on but nothing is
applied over it (`Bound.revision_lost`). This memory is not builders' RevisionCache:
that one answers only for an AppImage's current revision, this one for the revision
a task was bound to, whatever the AppImage is now.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from builders import BuildError, Plan, plan
from builders.fieldpath import first_error
from builders.models import AppImage, KusciaTask
from reconciler import domains, signing
from reconciler.caches import Caches
from reconciler.settings import Settings

REVISIONS_KEPT = 512  # parsed AppImage revisions remembered (they are few and shared)

Revision = tuple[str, str, int]  # (name, uid, generation)


@dataclass(frozen=True)
class Bound:
    """The task's plan. `revision_lost`: its objects exist, but a revision they were built
    from is no longer known (an AppImage edited while this process was down), so the plan
    is of the AppImage as it is now and must not be applied over what runs."""

    plan: Plan
    revision_lost: bool = False


@dataclass(frozen=True)
class Unbound:
    """Why the task cannot be built now: waiting (an AppImage or namespace not there yet)
    or never (the error says which)."""

    error: BuildError


Binding = Bound | Unbound


class Binder:
    """Builds tasks from the caches, remembering the AppImage revisions tasks bind to."""

    def __init__(self, caches: Caches, settings: Settings) -> None:
        self.caches = caches
        self.settings = settings
        # By (name, uid, generation): the status subresource moves resourceVersion without
        # changing the spec, generation does not.
        self._revisions: OrderedDict[Revision, AppImage] = OrderedDict()

    def bind(self, task: KusciaTask, *, objects_exist: bool, held: bool, gangs: bool) -> Binding:
        """The task's plan from its AppImages (the bound revisions once `objects_exist`),
        the designated domains and the reservation's choices (`held`, `gangs`)."""
        bound: dict[str, Revision] = (
            {
                b.app_image_ref: (b.app_image_ref, b.uid, b.generation or 0)
                for b in task.status.bound_app_images
            }
            if objects_exist
            else {}
        )
        app_images: dict[str, AppImage] = {}
        revision_lost = False
        for name in {p.app_image_ref for p in task.spec.parties}:
            remembered = self._revisions.get(bound[name]) if name in bound else None
            if remembered is not None:  # what the task runs, whatever the AppImage is now
                app_images[name] = remembered
                continue
            loaded = self._app_image(name)
            if isinstance(loaded, BuildError):
                return Unbound(loaded)
            if loaded is not None:
                app_images[name] = loaded
                revision_lost = revision_lost or (
                    name in bound and _revision(loaded) != bound[name]
                )
        if not objects_exist:
            unsigned = self._signature_error(task, app_images)
            if unsigned is not None:
                return Unbound(unsigned)
        cluster = domains.cluster(
            self.caches.namespaces.store.list(),
            self.caches.domain_objects(),
            own_namespace=self.settings.controller_namespace,
            task_created=task.metadata.creation_timestamp,
        )
        try:
            return Bound(plan(task, app_images, cluster, held=held, gangs=gangs), revision_lost)
        except BuildError as error:
            return Unbound(error)

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
            message = f"AppImage {name}: {first_error(error)}"
            return BuildError("InvalidAppImage", message, waiting=False, app_image=name)
        self._revisions[revision] = model
        while len(self._revisions) > REVISIONS_KEPT:
            self._revisions.popitem(last=False)
        return model


def _revision(app_image: AppImage) -> Revision:
    meta = app_image.metadata
    return (meta.name, meta.uid, meta.generation)
