"""Typed models of AppImage and KusciaTask, field for field as the CRDs in
charts/kuscia-reconciler/crds declare them (a test keeps the two in step).

Fields the CRD keeps opaque (probes, envFrom, affinity, ...) stay plain dicts:
they are copied into Pods as they are, never interpreted here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "kuscia.secretflow"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


class _Model(BaseModel):
    """Kuscia's camelCase names on the wire, snake_case in Python; unknown fields are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class Protocol(StrEnum):
    HTTP = "HTTP"
    GRPC = "GRPC"
    TCP = "TCP"


class Scope(StrEnum):
    CLUSTER = "Cluster"
    DOMAIN = "Domain"
    LOCAL = "Local"


class RestartPolicy(StrEnum):
    ALWAYS = "Always"
    ON_FAILURE = "OnFailure"
    NEVER = "Never"


class PullPolicy(StrEnum):
    ALWAYS = "Always"
    NEVER = "Never"
    IF_NOT_PRESENT = "IfNotPresent"


class ObjectMeta(BaseModel):
    """The part of metadata the builders read; everything else is kept as it is."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    name: str
    namespace: str = ""
    uid: str = ""
    resource_version: str = Field("", alias="resourceVersion")
    generation: int = 0
    creation_timestamp: str | None = Field(None, alias="creationTimestamp")
    deletion_timestamp: str | None = Field(None, alias="deletionTimestamp")
    finalizers: list[str] = []
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


# --- AppImage -----------------------------------------------------------------


class Image(_Model):
    name: str = ""
    tag: str
    id: str | None = ""  # Kuscia's clients write `id: null` for an image without one
    sign: str = ""


class ConfigVolumeMount(_Model):
    mount_path: str
    sub_path: str


class ContainerPort(_Model):
    name: str
    port: int | None = None
    protocol: Protocol = Protocol.HTTP
    scope: Scope = Scope.LOCAL


class EnvVar(BaseModel):
    """A container env entry; `valueFrom` and any other field pass through untouched."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    value: str | None = None


class Resources(_Model):
    limits: dict[str, int | str] = {}
    requests: dict[str, int | str] = {}
    claims: list[dict[str, Any]] = []


class MetricProbe(_Model):
    """Where Kuscia's monitoring scrapes the application's metrics (path, named port)."""

    path: str = ""
    port: str = ""


class _ContainerFields(_Model):
    """Every field of Kuscia's Container but its name."""

    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    config_volume_mounts: list[ConfigVolumeMount] = []
    ports: list[ContainerPort] = []
    env: list[EnvVar] = []
    env_from: list[dict[str, Any]] = []
    resources: Resources | None = None
    readiness_probe: dict[str, Any] | None = None
    liveness_probe: dict[str, Any] | None = None
    startup_probe: dict[str, Any] | None = None
    metric_probe: MetricProbe | None = None
    image_pull_policy: PullPolicy | None = None
    security_context: dict[str, Any] | None = None


class Container(_ContainerFields):
    name: str


class DeploySpec(_Model):
    restart_policy: RestartPolicy | None = None
    affinity: dict[str, Any] | None = None
    containers: list[Container]


class IngressFrom(_Model):
    roles: list[str] = []


class IngressPort(_Model):
    port: str


class Ingress(_Model):
    from_: IngressFrom = Field(default_factory=IngressFrom, alias="from")
    ports: list[IngressPort] = []


class NetworkPolicy(_Model):
    ingresses: list[Ingress] = []


class DeployTemplate(_Model):
    name: str = ""
    role: str = ""
    replicas: int = 1
    network_policy: NetworkPolicy | None = None
    spec: DeploySpec


class AppImageSpec(_Model):
    image: Image
    config_templates: dict[str, str] = {}
    deploy_templates: list[DeployTemplate]


class Condition(_Model):
    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_transition_time: str | None = None


class AppImageStatus(_Model):
    observed_generation: int | None = None
    conditions: list[Condition] = []


class AppImage(_Model):
    api_version: str = API_VERSION
    kind: str = "AppImage"
    metadata: ObjectMeta
    spec: AppImageSpec
    status: AppImageStatus = Field(default_factory=AppImageStatus)


# --- KusciaTask ---------------------------------------------------------------


class ScheduleConfig(_Model):
    """0 (or absent) means the default, as Kuscia reads it."""

    min_reserved_members: int | None = None
    resource_reserved_seconds: int | None = None
    lifecycle_seconds: int | None = None
    retry_interval_seconds: int | None = None


class PartyContainer(_ContainerFields):
    """A container of a party template: any field an AppImage container has (only
    name, command/args, env and resources are merged; see builders.selection)."""

    name: str | None = None


class PartySpec(_Model):
    """Kuscia's PodSpec (restartPolicy, affinity, containers) plus the pod-level fields
    that would widen what the AppImage grants: accepted so they can be reported, never used."""

    restart_policy: RestartPolicy | None = None
    affinity: dict[str, Any] | None = None
    containers: list[PartyContainer] = []
    host_network: bool | None = None
    host_pid: bool | None = Field(None, alias="hostPID")
    host_ipc: bool | None = Field(None, alias="hostIPC")
    service_account_name: str | None = None
    service_account: str | None = None
    automount_service_account_token: bool | None = None
    security_context: dict[str, Any] | None = None
    volumes: list[dict[str, Any]] | None = None


class PartyTemplate(_Model):
    replicas: int | None = None
    # Where Kuscia's own task reference puts it (beside `spec`); spec.restartPolicy wins.
    restart_policy: RestartPolicy | None = None
    spec: PartySpec = Field(default_factory=PartySpec)


class BandwidthLimit(_Model):
    destination_id: str = Field(alias="destinationID")
    limit_kbps: int = Field(alias="limitKBps")


class Party(_Model):
    domain_id: str = Field(alias="domainID")
    app_image_ref: str
    role: str = ""
    min_reserved_pods: int | None = None
    template: PartyTemplate = Field(default_factory=PartyTemplate)
    bandwidth_limits: list[BandwidthLimit] = []


class KusciaTaskSpec(_Model):
    initiator: str
    task_input_config: str = ""
    schedule_config: ScheduleConfig = Field(default_factory=ScheduleConfig)
    parties: list[Party]


class PartyTaskStatus(_Model):
    domain_id: str = Field("", alias="domainID")
    role: str = ""
    phase: str = ""
    message: str = ""


class PodStatus(_Model):
    pod_name: str = ""
    pod_phase: str = ""
    namespace: str = ""
    node_name: str = ""
    reason: str = ""
    message: str = ""
    termination_log: str = ""
    create_time: str | None = None
    schedule_time: str | None = None
    start_time: str | None = None
    ready_time: str | None = None


class ServiceStatus(_Model):
    namespace: str = ""
    service_name: str = ""
    port_name: str = ""
    port_number: int | None = None
    scope: str = ""
    create_time: str | None = None
    ready_time: str | None = None
    reason: str = ""
    message: str = ""


class AllocatedPorts(_Model):
    domain_id: str = Field("", alias="domainID")
    role: str = ""
    named_port: dict[str, int] = {}


class BoundAppImage(_Model):
    domain_id: str = Field("", alias="domainID")
    role: str = ""
    app_image_ref: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int | None = None


class UnplacedParty(_Model):
    """A local party whose pods the scheduler did not place within the reservation."""

    domain_id: str = Field("", alias="domainID")
    role: str = ""
    placed_pods: int = 0
    min_reserved_pods: int = 0
    reason: str = ""
    message: str = ""


class Reservation(_Model):
    """The task's resource reservation, kept in its status so a restart resumes it.

    `phase` takes Kuscia's TaskResourceGroup phases: Creating (pods made behind their
    scheduling gate), Reserving (released; waiting for the pods to be bound),
    Reserved, ReserveFailed (pods removed; a retry is due at `retryTime`), Failed.
    """

    phase: str = ""
    attempts: int = 0
    gang_scheduling: bool = False
    release_time: str | None = None
    reserve_deadline: str | None = None
    retry_time: str | None = None
    unplaced_parties: list[UnplacedParty] = []


class KusciaTaskStatus(_Model):
    phase: str = ""
    progress: float | None = None
    reason: str = ""
    message: str = ""
    observed_generation: int | None = None
    start_time: str | None = None
    completion_time: str | None = None
    last_reconcile_time: str | None = None
    conditions: list[Condition] = []
    party_task_status: list[PartyTaskStatus] = []
    pod_statuses: dict[str, PodStatus] = {}
    service_statuses: dict[str, ServiceStatus] = {}
    allocated_ports: list[AllocatedPorts] = []
    bound_app_images: list[BoundAppImage] = []
    reservation: Reservation | None = None


class KusciaTask(_Model):
    api_version: str = API_VERSION
    kind: str = "KusciaTask"
    metadata: ObjectMeta
    spec: KusciaTaskSpec
    status: KusciaTaskStatus = Field(default_factory=KusciaTaskStatus)
