"""Reports each AppImage's own problems (SPEC §7) in its status `Valid`
condition; only the status subresource is ever written, never the spec.
With trusted keys, a bad `spec.image.sign` is reported first: an unsigned
image is not to be run, whatever else is right or wrong with it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from builders import validate_app_image
from builders.fieldpath import first_error
from builders.models import AppImage
from informers.clock import Clock
from reconciler import signing, task_status
from reconciler.caches import Caches
from reconciler.events import NORMAL, WARNING, EventRecorder
from reconciler.kube import Kube

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class AppImageReconciler:
    def __init__(
        self,
        kube: Kube,
        caches: Caches,
        events: EventRecorder,
        clock: Clock,
        field_manager: str,
        *,
        verify_keys: Sequence[Ed25519PublicKey] = (),
    ) -> None:
        self.kube = kube
        self.caches = caches
        self.events = events
        self.clock = clock
        self.field_manager = field_manager
        self.verify_keys = tuple(verify_keys)

    async def reconcile(self, name: str) -> None:
        raw = self.caches.app_images.store.get_by_key(name)
        if raw is None:
            return
        reason, message = _verdict(raw, self.verify_keys)
        old = raw.get("status") or {}
        previous: dict[str, Any] = next(
            (c for c in old.get("conditions", []) if c.get("type") == "Valid"), {}
        )
        valid = "True" if not reason else "False"
        condition = {"type": "Valid", "status": valid, "reason": reason or "Valid"}
        if message:
            condition["message"] = message
        if previous.get("status") == valid and previous.get("lastTransitionTime"):
            condition["lastTransitionTime"] = previous["lastTransitionTime"]
        else:
            condition["lastTransitionTime"] = task_status.timestamp(self.clock.wall())
        status = {
            "observedGeneration": raw["metadata"].get("generation"),
            "conditions": [condition],
        }
        if old == status:
            return
        body = {
            "apiVersion": raw["apiVersion"],
            "kind": raw["kind"],
            "metadata": {"name": name},
            "status": status,
        }
        await self.kube.apply(body, field_manager=self.field_manager, subresource="status")
        if previous.get("status") != valid or previous.get("message") != message:
            if reason:
                await self.events.emit(raw, WARNING, reason, message)
            elif previous:
                await self.events.emit(raw, NORMAL, "Valid", "the AppImage is valid again")


def _verdict(raw: Mapping[str, Any], verify_keys: Sequence[Ed25519PublicKey]) -> tuple[str, str]:
    """('', '') when valid, else the first problem's reason and every problem's message."""
    name = raw["metadata"]["name"]
    try:
        model = AppImage.model_validate(raw)
    except ValidationError as error:
        return "InvalidAppImage", f"AppImage {name}: {first_error(error)}"
    signature = signing.check(verify_keys, model)
    problems = ([signature] if signature else []) + validate_app_image(model)
    if not problems:
        return "", ""
    return problems[0].reason, "; ".join(p.message for p in problems)
