"""`plan()`: a task, its AppImages and what the cluster has in, every desired object out.

The one entry point of the builders. It checks the task in an order that fails
fast on what can never work, waits only on what may still appear (an AppImage,
a namespace), and then builds each local party's NetworkPolicy, ConfigMaps,
Services and Pods. Same input, same output, byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from builders import (
    cluster_define,
    configmap,
    labels,
    limits,
    naming,
    networkpolicy,
    pod,
    podgroup,
    ports,
    rendering,
    selection,
    service,
    variables,
)
from builders.errors import BuildError, Reason
from builders.models import (
    AllocatedPorts,
    AppImage,
    BoundAppImage,
    KusciaTask,
    Party,
    Scope,
)
from builders.party import PartyFacts, PodFacts
from builders.revision_cache import RevisionCache
from builders.validation import CheckedAppImage, checked


@dataclass(frozen=True)
class Cluster:
    """What the builders know about the cluster, read from caches by the caller."""

    namespaces: frozenset[str]  # namespaces that exist
    partners: frozenset[str] = frozenset()  # labelled kuscia.secretflow/role=partner: not local

    def has(self, namespace: str) -> bool:
        return namespace in self.namespaces or namespace in self.partners

    def is_local(self, namespace: str) -> bool:
        return namespace in self.namespaces and namespace not in self.partners


@dataclass(frozen=True)
class ServicePlan:
    name: str
    namespace: str
    pod: str
    port_name: str
    port_number: int
    scope: str

    @property
    def endpoint(self) -> str:
        return service.endpoint(self.name, self.namespace, self.port_number)


@dataclass(frozen=True)
class PartyPlan:
    domain_id: str
    role: str
    local: bool
    namespace: str  # == domain_id
    app_image: str
    replicas: int
    min_reserved_pods: int
    pods: tuple[str, ...]  # pod names, index order
    services: tuple[ServicePlan, ...]


@dataclass(frozen=True)
class RenderWarning:
    """A template variable (or query path) that was not there; it rendered empty."""

    file: str
    variable: str
    pod: str
    namespace: str
    app_image: str

    @property
    def message(self) -> str:
        return (
            f"config template {self.file!r} of AppImage {self.app_image!r} uses unknown "
            f"variable {self.variable!r} (rendered empty) in pod {self.namespace}/{self.pod}"
        )


@dataclass(frozen=True)
class Plan:
    objects: tuple[dict[str, Any], ...]  # every desired object of the LOCAL parties, apply-ready
    parties: tuple[PartyPlan, ...]  # one per party, task order, local or not
    allocated_ports: tuple[AllocatedPorts, ...]  # Kuscia's shape, every party
    bound_app_images: tuple[BoundAppImage, ...]
    warnings: tuple[RenderWarning, ...]
    ignored_fields: tuple[selection.IgnoredField, ...] = ()  # party-template fields not taken


def plan(
    task: KusciaTask,
    app_images: Mapping[str, AppImage],
    cluster: Cluster,
    *,
    cache: RevisionCache | None = None,
    held: bool = False,
    gangs: bool = False,
) -> Plan:
    """Raises BuildError. `held`: the Pods carry the reservation's scheduling gate;
    `gangs`: each local party's Pods are one PodGroup (the cluster serves them)."""
    _check_task(task)
    merged: dict[int, tuple[CheckedAppImage, selection.Selected]] = {}
    seen: dict[str, CheckedAppImage] = {}  # parties sharing an AppImage look it up once
    for index, party in enumerate(task.spec.parties):
        app_image = app_images.get(party.app_image_ref)
        if app_image is None:
            continue
        facts = seen.get(party.app_image_ref) or checked(app_image, cache)
        seen[party.app_image_ref] = facts
        if facts.problems:
            problem = facts.problems[0]
            raise BuildError(
                problem.reason,
                f"{_where(task, index, party)}: {problem.message}",
                field=problem.field,
                app_image=app_image.metadata.name,
            )
        chosen = selection.select_and_merge(
            app_image, party, party_field=f"spec.parties[{index}]", task_name=_task_ref(task)
        )
        _check_merged(task, index, party, chosen)
        merged[index] = (facts, chosen)
    _check_pod_count(task, merged)
    for index, party in enumerate(task.spec.parties):
        if index not in merged:
            raise BuildError(
                Reason.APP_IMAGE_NOT_FOUND,
                f"{_where(task, index, party)}: AppImage {party.app_image_ref!r} "
                f"(spec.parties[{index}].appImageRef) does not exist",
                field=f"spec.parties[{index}].appImageRef",
            )
        if not cluster.has(party.domain_id):
            raise BuildError(
                Reason.NAMESPACE_NOT_FOUND,
                f"{_where(task, index, party)}: namespace {party.domain_id!r} "
                f"(spec.parties[{index}].domainID) does not exist",
                field=f"spec.parties[{index}].domainID",
            )
    parties = [
        _party_facts(task, index, party, app_images[party.app_image_ref], *merged[index], cluster)
        for index, party in enumerate(task.spec.parties)
    ]
    ignored = tuple(field for index in sorted(merged) for field in merged[index][1].ignored)
    return _build(task, parties, ignored, held=held, gangs=gangs)


def _task_ref(task: KusciaTask) -> str:
    meta = task.metadata
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name


def _where(task: KusciaTask, index: int, party: Party) -> str:
    return f"task {_task_ref(task)!r} party {party.domain_id}/{party.role} (spec.parties[{index}])"


def _check_task(task: KusciaTask) -> None:
    name = task.metadata.name
    if len(name) > naming.MAX_NAME:
        raise BuildError(
            Reason.NAME_TOO_LONG,
            f"task {_task_ref(task)!r}: metadata.name is {len(name)} characters; the names "
            f"and labels made from it allow at most {naming.MAX_NAME}",
            field="metadata.name",
        )
    if not naming.is_dns1123_label(name):
        raise BuildError(
            Reason.INVALID_NAME,
            f"task {_task_ref(task)!r}: metadata.name must be a DNS-1123 label "
            "(lowercase letters, digits and '-') to name pods and services",
            field="metadata.name",
        )
    if not task.spec.parties:
        raise BuildError(
            Reason.INVALID_TASK,
            f"task {_task_ref(task)!r}: spec.parties is empty",
            field="spec.parties",
        )
    if len(task.spec.parties) > limits.MAX_PARTIES:
        raise BuildError(
            Reason.TOO_MANY_PARTIES,
            f"task {_task_ref(task)!r}: spec.parties has {len(task.spec.parties)} parties; "
            f"at most {limits.MAX_PARTIES} are allowed",
            field="spec.parties",
        )
    seen: dict[tuple[str, str], int] = {}
    for index, party in enumerate(task.spec.parties):
        _check_party_input(task, index, party)
        if party.role and not naming.is_dns1123_label(party.role):
            raise BuildError(
                Reason.INVALID_NAME,
                f"{_where(task, index, party)}: spec.parties[{index}].role {party.role!r} "
                "must be a DNS-1123 label (lowercase letters, digits and '-'): it is part "
                "of pod names",
                field=f"spec.parties[{index}].role",
            )
        key = (party.domain_id, party.role)
        if key in seen:
            raise BuildError(
                Reason.DUPLICATE_PARTY,
                f"{_where(task, index, party)}: spec.parties[{seen[key]}] already has "
                f"domainID {party.domain_id!r} and role {party.role!r}",
                field=f"spec.parties[{index}]",
            )
        seen[key] = index


def _check_party_input(task: KusciaTask, index: int, party: Party) -> None:
    """Names that can never exist fail the task now instead of making it wait for them;
    opaque env entries are bounded in depth like the AppImage's (builders.limits)."""
    if not naming.is_dns1123_label(party.domain_id):
        raise BuildError(
            Reason.INVALID_NAME,
            f"{_where(task, index, party)}: spec.parties[{index}].domainID "
            f"{party.domain_id!r} must be a DNS-1123 label (lowercase letters, digits and "
            "'-', at most 63): it names the party's namespace",
            field=f"spec.parties[{index}].domainID",
        )
    if not naming.is_dns1123_subdomain(party.app_image_ref):
        raise BuildError(
            Reason.INVALID_NAME,
            f"{_where(task, index, party)}: spec.parties[{index}].appImageRef "
            f"{party.app_image_ref!r} can never name an AppImage (a DNS-1123 subdomain: "
            "lowercase letters, digits, '-' and '.', at most 253)",
            field=f"spec.parties[{index}].appImageRef",
        )
    for b_index, limit in enumerate(party.bandwidth_limits):
        key = labels.BANDWIDTH_LIMIT_PREFIX + limit.destination_id
        if not naming.is_dns1123_label(limit.destination_id) or len(key.split("/")[1]) > 63:
            field = f"spec.parties[{index}].bandwidthLimits[{b_index}].destinationID"
            raise BuildError(
                Reason.INVALID_TASK,
                f"{_where(task, index, party)}: {field} {limit.destination_id!r} must be a "
                "domain ID (a DNS-1123 label) of at most 47 characters: it becomes the "
                f"Service annotation {key!r}",
                field=field,
            )
    for c_index, container in enumerate(party.template.spec.containers):
        for e_index, env in enumerate(container.env):
            if limits.nesting(env.model_extra) > limits.MAX_NESTING:
                field = f"spec.parties[{index}].template.spec.containers[{c_index}].env[{e_index}]"
                raise BuildError(
                    Reason.INVALID_TASK,
                    f"{_where(task, index, party)}: {field} nests more than "
                    f"{limits.MAX_NESTING} levels deep",
                    field=field,
                )


def _check_pod_count(
    task: KusciaTask, merged: Mapping[int, tuple[CheckedAppImage, selection.Selected]]
) -> None:
    replicas = {index: chosen.template.replicas for index, (_, chosen) in merged.items()}
    total = sum(replicas.values())
    if total > limits.MAX_PODS:
        largest = max(replicas, key=lambda index: replicas[index])
        raise BuildError(
            Reason.TOO_MANY_PODS,
            f"task {_task_ref(task)!r}: its parties would run {total} pods (the most, "
            f"{replicas[largest]}, in spec.parties[{largest}]); at most {limits.MAX_PODS} "
            "are allowed",
            field=f"spec.parties[{largest}].template.replicas",
        )


def _check_merged(task: KusciaTask, index: int, party: Party, chosen: selection.Selected) -> None:
    template = chosen.template
    field = f"spec.parties[{index}]"
    if template.replicas < 1:
        raise BuildError(
            Reason.INVALID_TASK,
            f"{_where(task, index, party)}: {field}.template.replicas must be at least 1",
            field=f"{field}.template.replicas",
        )
    minimum = party.min_reserved_pods or None  # 0 means all replicas, as in Kuscia
    if minimum is not None and not 1 <= minimum <= template.replicas:
        raise BuildError(
            Reason.INVALID_TASK,
            f"{_where(task, index, party)}: {field}.minReservedPods is {minimum}; it must be "
            f"between 1 and the party's replicas ({template.replicas})",
            field=f"{field}.minReservedPods",
        )
    names: set[str] = set()
    for c_index, container in enumerate(template.spec.containers):
        if not naming.is_dns1123_label(container.name) or container.name in names:
            raise BuildError(
                Reason.INVALID_TASK,
                f"{_where(task, index, party)}: {field}.template.spec.containers[{c_index}]"
                f".name {container.name!r} must be a DNS-1123 label, unique in the pod",
                field=f"{field}.template.spec.containers[{c_index}].name",
            )
        names.add(container.name)


def _party_facts(
    task: KusciaTask,
    index: int,
    party: Party,
    app_image: AppImage,
    facts: CheckedAppImage,
    chosen: selection.Selected,
    cluster: Cluster,
) -> PartyFacts:
    template = chosen.template
    where = _where(task, index, party)
    container_ports = tuple(port for c in template.spec.containers for port in c.ports)
    recorded = next(
        (
            entry.named_port
            for entry in task.status.allocated_ports
            if entry.domain_id == party.domain_id and entry.role == party.role
        ),
        {},
    )
    served = tuple(port for port in container_ports if port.scope is not Scope.LOCAL)
    pods = []
    for replica in range(template.replicas):
        # A Pod's name is a DNS subdomain (253 characters): only the names derived from it
        # (Services: DNS-1035 labels; the identity: a label value) are shortened past 63.
        name = naming.pod_name(task.metadata.name, party.role, replica)
        identity = naming.pod_identity(task.metadata.uid, party.role, replica)
        pods.append(
            PodFacts(
                index=replica,
                name=name,
                identity=identity,
                ports=ports.allocate_pod(name, container_ports, recorded, where=where),
                services={port.name: naming.service_name(name, port.name) for port in served},
                config_map=naming.config_map_name(name) if facts.templates else None,
            )
        )
    everyone = [(p.domain_id, p.role) for p in task.spec.parties]
    return PartyFacts(
        index=index,
        domain_id=party.domain_id,
        role=party.role,
        local=cluster.is_local(party.domain_id),
        app_image=app_image,
        checked=facts,
        template_index=chosen.index,
        template=template,
        min_reserved_pods=party.min_reserved_pods or template.replicas,
        ports=container_ports,
        served_ports=served,
        pods=tuple(pods),
        access_domains=networkpolicy.ingress_domains(everyone, template, container_ports),
    )


def _build(
    task: KusciaTask,
    parties: list[PartyFacts],
    ignored: tuple[selection.IgnoredField, ...],
    *,
    held: bool,
    gangs: bool,
) -> Plan:
    parties_json = cluster_define.encode_parties(
        [
            cluster_define.PartyServices(
                party.domain_id,
                party.role,
                tuple(
                    (
                        port.name,
                        tuple(
                            service.endpoint(
                                p.services[port.name], party.domain_id, p.ports[port.name]
                            )
                            for p in party.pods
                        ),
                    )
                    for port in party.served_ports
                ),
            )
            for party in parties
        ]
    )
    all_domains = list(dict.fromkeys(party.domain_id for party in parties))
    objects: list[dict[str, Any]] = []
    warnings: list[RenderWarning] = []
    workspace = rendering.Workspace()
    for party in parties:
        if party.local:
            objects.extend(
                _party_objects(
                    task,
                    party,
                    parties_json,
                    all_domains,
                    warnings,
                    workspace,
                    held=held,
                    gangs=gangs,
                )
            )
    _check_unique_names(task, objects)
    return Plan(
        objects=tuple(objects),
        parties=tuple(_party_plan(party) for party in parties),
        allocated_ports=tuple(
            ports.allocated_ports(
                party.domain_id, party.role, {p.name: p.ports for p in party.pods}
            )
            for party in parties
        ),
        bound_app_images=tuple(
            BoundAppImage(
                domain_id=party.domain_id,
                role=party.role,
                app_image_ref=party.app_image.metadata.name,
                uid=party.app_image.metadata.uid,
                resource_version=party.app_image.metadata.resource_version,
                generation=party.app_image.metadata.generation or None,
            )
            for party in parties
        ),
        warnings=tuple(warnings),
        ignored_fields=ignored,
    )


def _party_objects(
    task: KusciaTask,
    party: PartyFacts,
    parties_json: str,
    all_domains: list[str],
    warnings: list[RenderWarning],
    workspace: rendering.Workspace,
    *,
    held: bool,
    gangs: bool,
) -> list[dict[str, Any]]:
    where = _where(task, party.index, task.spec.parties[party.index])
    objects = [
        networkpolicy.network_policy(
            task, party, naming.network_policy_name(task.metadata.name, party.role), all_domains
        )
    ]
    if party.checked.templates:
        env = variables.party_env(party)
        ports_json: dict[tuple[int, ...], str] = {}  # replicas usually share their numbers
        for p in party.pods:
            numbers = tuple(p.ports.values())
            if numbers not in ports_json:
                ports_json[numbers] = cluster_define.allocated_ports_json(party.ports, p.ports)
            values = variables.pod_values(
                task,
                party,
                p,
                env,
                cluster_define=cluster_define.task_cluster_define(
                    parties_json, party.index, p.index
                ),
                allocated_ports=ports_json[numbers],
            )
            config_map, unknown = configmap.config_map(
                task, party, p, values, where=where, workspace=workspace
            )
            objects.append(config_map)
            warnings.extend(
                RenderWarning(
                    file, variable, p.name, party.domain_id, party.app_image.metadata.name
                )
                for file, variable in unknown
            )
    objects.extend(
        service.service(task, party, p, port) for p in party.pods for port in party.served_ports
    )
    group = None
    if gangs:
        objects.append(podgroup.pod_group(task, party))
        group = podgroup.pod_group_name(task, party)
    objects.extend(pod.pod(task, party, p, held=held, pod_group=group) for p in party.pods)
    return objects


def _check_unique_names(task: KusciaTask, objects: list[dict[str, Any]]) -> None:
    seen: set[tuple[str, str, str]] = set()
    for obj in objects:
        meta = obj["metadata"]
        key = (obj["kind"], meta["namespace"], meta["name"])
        if key in seen:
            raise BuildError(
                Reason.NAME_CONFLICT,
                f"task {_task_ref(task)!r}: two parties would both create {key[0]} "
                f"{key[1]}/{key[2]}; give the parties roles that do not overlap",
                field="spec.parties",
            )
        seen.add(key)


def _party_plan(party: PartyFacts) -> PartyPlan:
    return PartyPlan(
        domain_id=party.domain_id,
        role=party.role,
        local=party.local,
        namespace=party.domain_id,
        app_image=party.app_image.metadata.name,
        replicas=party.replicas,
        min_reserved_pods=party.min_reserved_pods,
        pods=tuple(p.name for p in party.pods),
        services=tuple(
            ServicePlan(
                name=p.services[port.name],
                namespace=party.domain_id,
                pod=p.name,
                port_name=port.name,
                port_number=p.ports[port.name],
                scope=port.scope.value,
            )
            for p in party.pods
            for port in party.served_ports
        ),
    )
