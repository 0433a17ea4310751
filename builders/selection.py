"""Which deploy template a party runs, and how its party template is merged over it (SPEC §2).

Selection: the first template whose comma-separated `role` lists the party's
role; else the first template with an empty role; else the first template
(the seed's rule, where Kuscia itself would refuse).
"""

from __future__ import annotations

from dataclasses import dataclass

from builders.errors import BuildError, Reason
from builders.models import (
    AppImage,
    DeployTemplate,
    Party,
    PartyContainer,
    PartySpec,
    Resources,
)


@dataclass(frozen=True)
class IgnoredField:
    """A party-template field that is not taken (Kuscia ignores it without a word; here
    the task gets a Warning Event), because it differs from the deploy template's value."""

    field: str  # its path in the task, e.g. spec.parties[0].template.spec.containers[0].ports
    party: str  # "domainID/role"
    container: str  # the container it belongs to, "" for a pod-level field
    task: str
    extra_container: bool = False  # a whole container the deploy template does not have

    @property
    def message(self) -> str:
        if self.extra_container:
            why = f"container {self.container!r}: the deploy template has fewer containers"
        else:
            where = f"container {self.container!r} of " if self.container else ""
            why = f"{where}the party's pod keeps the deploy template's value"
        return (
            f"task {self.task!r} party {self.party}: {self.field} is ignored ({why}); "
            f"a party template sets only {TAKEN}"
        )


TAKEN = "replicas, restartPolicy and each container's name, command, args, env and resources"

# Pod-level fields that would widen what the AppImage grants: deploy templates have none.
_POD_LEVEL_IGNORED = (
    "host_network",
    "host_pid",
    "host_ipc",
    "service_account_name",
    "service_account",
    "automount_service_account_token",
    "security_context",
    "volumes",
)
# The container fields Kuscia's mergeDeployTemplate takes from a party template.
_CONTAINER_MERGED = frozenset({"name", "command", "args", "env", "resources"})


@dataclass(frozen=True)
class Selected:
    """The merged deploy template of one party, where it came from (for field paths),
    and the party-template fields left out of it."""

    index: int
    template: DeployTemplate
    ignored: tuple[IgnoredField, ...] = ()

    @property
    def field(self) -> str:
        return f"spec.deployTemplates[{self.index}]"


def template_roles(template: DeployTemplate) -> tuple[str, ...]:
    """The roles a template serves; () means it serves any role."""
    return tuple(role.strip() for role in template.role.split(",") if role.strip())


def select(app_image: AppImage, role: str) -> tuple[int, DeployTemplate]:
    templates = app_image.spec.deploy_templates
    if not templates:
        raise BuildError(
            Reason.DEPLOY_TEMPLATE_NOT_FOUND,
            f"AppImage {app_image.metadata.name!r} has no deploy template (spec.deployTemplates)",
            field="spec.deployTemplates",
            app_image=app_image.metadata.name,
        )
    fallback: int | None = None
    for index, template in enumerate(templates):
        roles = template_roles(template)
        if role and role in roles:
            return index, template
        if not roles and fallback is None:
            fallback = index
    index = fallback if fallback is not None else 0
    return index, templates[index]


def select_and_merge(
    app_image: AppImage, party: Party, *, party_field: str, task_name: str
) -> Selected:
    index, template = select(app_image, party.role)
    merged = merge(template, party)
    ignored = ignored_fields(template, party, party_field=party_field, task_name=task_name)
    return Selected(index, merged, ignored)


def merge(template: DeployTemplate, party: Party) -> DeployTemplate:
    """The party's `template` over the deploy template, as Kuscia merges it: replicas and
    restartPolicy replace (`template.spec.restartPolicy`, else `template.restartPolicy`);
    containers merge by index (name replaces, command/args replace together, env appends,
    each resources limits/requests key replaces); nothing else is taken."""
    overrides = party.template
    restart_policy = overrides.spec.restart_policy or overrides.restart_policy
    if overrides.replicas is None and not overrides.spec.containers and not restart_policy:
        return template
    containers = list(template.spec.containers)
    for index, override in enumerate(overrides.spec.containers[: len(containers)]):
        container = containers[index]
        update: dict[str, object] = {}
        if override.name:
            update["name"] = override.name
        if override.command or override.args:
            update["command"] = override.command
            update["args"] = override.args
        if override.env:
            update["env"] = [*container.env, *override.env]
        if override.resources is not None:
            update["resources"] = _merge_resources(container.resources, override.resources)
        if update:
            containers[index] = container.model_copy(update=update)
    spec_update: dict[str, object] = {"containers": containers}
    if restart_policy is not None:
        spec_update["restart_policy"] = restart_policy
    update_template: dict[str, object] = {"spec": template.spec.model_copy(update=spec_update)}
    if overrides.replicas is not None:
        update_template["replicas"] = overrides.replicas
    return template.model_copy(update=update_template)


def ignored_fields(
    template: DeployTemplate, party: Party, *, party_field: str, task_name: str
) -> tuple[IgnoredField, ...]:
    """Every field the party template gives that `merge` does not take and whose value
    differs from the deploy template's (a copy of the deploy template's own value, as
    Kuscia's KusciaJob controller writes, is not worth a word)."""
    overrides = party.template
    who = f"{party.domain_id}/{party.role}"
    base = f"{party_field}.template"
    found: list[IgnoredField] = []

    def ignore(field: str, container: str = "", *, extra: bool = False) -> None:
        found.append(IgnoredField(f"{base}.{field}", who, container, task_name, extra))

    spec = overrides.spec
    if (
        spec.restart_policy is not None
        and overrides.restart_policy is not None
        and spec.restart_policy != overrides.restart_policy
    ):
        ignore("restartPolicy")
    if spec.affinity is not None and spec.affinity != template.spec.affinity:
        ignore("spec.affinity")
    for name in _POD_LEVEL_IGNORED:
        if getattr(spec, name):  # false, "" and [] grant nothing
            ignore(f"spec.{_alias(type(spec), name)}")
    containers = template.spec.containers
    for index, override in enumerate(spec.containers):
        where = f"spec.containers[{index}]"
        if index >= len(containers):
            ignore(where, override.name or "", extra=True)
            continue
        container = containers[index]
        for name in sorted(override.model_fields_set - _CONTAINER_MERGED, key=_order):
            if getattr(override, name) != getattr(container, name):
                ignore(f"{where}.{_alias(type(override), name)}", container.name)
        claims = override.resources.claims if override.resources is not None else []
        base_claims = container.resources.claims if container.resources is not None else []
        if claims and claims != base_claims:
            ignore(f"{where}.resources.claims", container.name)
    return tuple(found)


def _alias(model: type[PartySpec] | type[PartyContainer], name: str) -> str:
    return model.model_fields[name].alias or name


def _order(name: str) -> int:
    return list(PartyContainer.model_fields).index(name)


def _merge_resources(base: Resources | None, override: Resources) -> Resources:
    if base is None:
        return Resources(limits=override.limits, requests=override.requests)
    return base.model_copy(
        update={
            "limits": {**base.limits, **override.limits},
            "requests": {**base.requests, **override.requests},
        }
    )
