"""The informers the controller runs and the indexes it reads them by: tasks
by AppImage, by party domain and by uid; children by the task uid label; and
Kuscia's Domains, where that CRD is served. Each keeps what
reconciler.cache_transforms leaves of its kind."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from builders.labels import CONTROLLER_LABEL, CONTROLLER_VALUE, TASK_UID_LABEL
from informers.backoff import BackoffPolicy
from informers.clock import Clock
from informers.connection import Api
from informers.informer import Informer
from informers.reflector import ReflectorOptions
from informers.resource import Resource
from reconciler import cache_transforms

TASKS = Resource("kuscia.secretflow", "v1alpha1", "kusciatasks", namespaced=True)
APP_IMAGES = Resource("kuscia.secretflow", "v1alpha1", "appimages", namespaced=False)
NAMESPACES = Resource("", "v1", "namespaces", namespaced=False)
DOMAINS = Resource("kuscia.secretflow", "v1alpha1", "domains", namespaced=False)
POD_GROUPS = Resource("scheduling.k8s.io", "v1beta1", "podgroups", namespaced=True)
PODS = Resource("", "v1", "pods", namespaced=True)
SERVICES = Resource("", "v1", "services", namespaced=True)
CONFIG_MAPS = Resource("", "v1", "configmaps", namespaced=True)
NETWORK_POLICIES = Resource("networking.k8s.io", "v1", "networkpolicies", namespaced=True)

# client-go's informers back off to 30 s between tries (60 s with jitter), a size
# chosen for thousands of clients; this controller's few retry within 10 s, so its
# work resumes within seconds after an API server outage, not a minute or two.
OPTIONS = ReflectorOptions(backoff=BackoffPolicy(cap=5.0))

BY_APP_IMAGE = "appImageRef"
BY_DOMAIN = "domainID"
BY_UID = "uid"
BY_TASK_UID = "taskUID"

CHILD_KINDS = {
    "Pod": PODS,
    "Service": SERVICES,
    "ConfigMap": CONFIG_MAPS,
    "NetworkPolicy": NETWORK_POLICIES,
}


def _parties(task: dict[str, Any]) -> Iterable[dict[str, Any]]:
    parties = (task.get("spec") or {}).get("parties") or []
    return [p for p in parties if isinstance(p, dict)]


def task_app_images(task: dict[str, Any]) -> list[str]:
    return sorted({str(p["appImageRef"]) for p in _parties(task) if p.get("appImageRef")})


def task_domains(task: dict[str, Any]) -> list[str]:
    return sorted({str(p["domainID"]) for p in _parties(task) if p.get("domainID")})


def object_uid(obj: dict[str, Any]) -> list[str]:
    uid = obj["metadata"].get("uid")
    return [uid] if uid else []


def child_task_uid(obj: dict[str, Any]) -> list[str]:
    uid = (obj["metadata"].get("labels") or {}).get(TASK_UID_LABEL)
    return [uid] if uid else []


class Caches:
    """Every informer of one controller, created together, run together."""

    def __init__(self, api: Api, *, namespace: str | None, clock: Clock | None = None) -> None:
        self._api, self._clock = api, clock
        selector = f"{CONTROLLER_LABEL}={CONTROLLER_VALUE}"
        self.tasks = Informer(
            api,
            TASKS,
            namespace=namespace,
            indexers={BY_APP_IMAGE: task_app_images, BY_DOMAIN: task_domains, BY_UID: object_uid},
            clock=clock,
            name="kusciatasks",
            transform=cache_transforms.whole,
            options=OPTIONS,
        )
        self.app_images = Informer(
            api,
            APP_IMAGES,
            clock=clock,
            name="appimages",
            options=OPTIONS,
            transform=cache_transforms.whole,
        )
        self.namespaces = Informer(
            api,
            NAMESPACES,
            clock=clock,
            name="namespaces",
            options=OPTIONS,
            transform=cache_transforms.whole,
        )
        self.children = {
            kind: Informer(
                api,
                resource,
                label_selector=selector,
                indexers={BY_TASK_UID: child_task_uid},
                clock=clock,
                name=resource.plural,
                options=OPTIONS,
                transform=cache_transforms.for_kind(kind),
            )
            for kind, resource in CHILD_KINDS.items()
        }
        self.domains: Informer | None = None  # Kuscia's Domains, once found to be served

    def watch_domains(self) -> Informer:
        """Adds the Domain informer (before the caches run)."""
        self.domains = Informer(
            self._api,
            DOMAINS,
            clock=self._clock,
            name="domains",
            options=OPTIONS,
            transform=cache_transforms.whole,
        )
        return self.domains

    def domain_objects(self) -> list[dict[str, Any]] | None:
        """Kuscia's Domains, or None where that CRD is not served."""
        return None if self.domains is None else self.domains.store.list()

    def watch_pod_groups(self) -> Informer:
        """Adds PodGroups to the task's children (called once the API server is known
        to serve them)."""
        informer = Informer(
            self._api,
            POD_GROUPS,
            label_selector=f"{CONTROLLER_LABEL}={CONTROLLER_VALUE}",
            indexers={BY_TASK_UID: child_task_uid},
            clock=self._clock,
            name=POD_GROUPS.plural,
            options=OPTIONS,
            transform=cache_transforms.whole,
        )
        self.children["PodGroup"] = informer
        return informer

    @property
    def all(self) -> list[Informer]:
        domains = [self.domains] if self.domains is not None else []
        return [self.tasks, self.app_images, self.namespaces, *domains, *self.children.values()]

    def has_synced(self) -> bool:
        return all(informer.has_synced() for informer in self.all)

    def healthy(self) -> bool:
        return all(informer.healthy for informer in self.all)

    def children_of(self, task_uid: str) -> dict[str, list[dict[str, Any]]]:
        return {
            kind: informer.store.by_index(BY_TASK_UID, task_uid)
            for kind, informer in self.children.items()
        }
