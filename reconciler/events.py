"""Kubernetes Events on the objects the controller works on, written with
server-side apply under a name derived from what they say, so the same event
twice is one object."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import structlog

from informers.clock import Clock
from reconciler.kube import ApiError, Kube
from reconciler.task_status import timestamp

log = structlog.get_logger(__name__)
NORMAL, WARNING = "Normal", "Warning"
MAX_MESSAGE = 1024


class EventRecorder:
    def __init__(self, kube: Kube, clock: Clock, *, component: str, field_manager: str) -> None:
        self.kube = kube
        self.clock = clock
        self.component = component
        self.field_manager = field_manager

    async def emit(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """Records one event; a failure to record is logged, never raised."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        digest = hashlib.sha256(f"{meta.get('uid')}/{type_}/{reason}/{message}".encode())
        now = timestamp(self.clock.wall())
        involved = {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{meta['name']}.{digest.hexdigest()[:16]}",
                "namespace": namespace,
            },
            "involvedObject": {k: v for k, v in involved.items() if v},
            "type": type_,
            "reason": reason,
            "message": message[:MAX_MESSAGE],
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.kube.apply(event, field_manager=self.field_manager)
        except (ApiError, OSError, TimeoutError) as error:
            log.warning("event not recorded", reason=reason, error=str(error))
