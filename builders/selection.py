"""Which deploy template a party runs, and how its party template is merged over it (SPEC §2).

Selection: the first template whose comma-separated `role` lists the party's
role; else the first template with an empty role; else the first template
(the seed's rule, where Kuscia itself would refuse).
"""

from __future__ import annotations

from dataclasses import dataclass

from builders.errors import BuildError, Reason
from builders.models import AppImage, DeployTemplate, Party, Resources


@dataclass(frozen=True)
class Selected:
    """The merged deploy template of one party and where it came from (for field paths)."""

    index: int
    template: DeployTemplate

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
    return Selected(index, merge(template, party, party_field=party_field, task_name=task_name))


def merge(
    template: DeployTemplate, party: Party, *, party_field: str, task_name: str
) -> DeployTemplate:
    """The party's `template` over the deploy template: replicas and restartPolicy replace;
    containers merge by index (name replaces, command/args replace together, env appends,
    each resources key replaces)."""
    overrides = party.template
    if (
        overrides.replicas is None
        and not overrides.spec.containers
        and not overrides.spec.restart_policy
    ):
        return template
    base = template.spec.containers
    if len(overrides.spec.containers) > len(base):
        raise BuildError(
            Reason.INVALID_TASK,
            f"task {task_name!r} party {party.domain_id}/{party.role}: "
            f"{party_field}.template.spec.containers has {len(overrides.spec.containers)} "
            f"entries but deploy template {template.name!r} has only {len(base)} container(s)",
            field=f"{party_field}.template.spec.containers",
        )
    containers = list(base)
    for index, override in enumerate(overrides.spec.containers):
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
    if overrides.spec.restart_policy is not None:
        spec_update["restart_policy"] = overrides.spec.restart_policy
    update_template: dict[str, object] = {"spec": template.spec.model_copy(update=spec_update)}
    if overrides.replicas is not None:
        update_template["replicas"] = overrides.replicas
    return template.model_copy(update=update_template)


def _merge_resources(base: Resources | None, override: Resources) -> Resources:
    if base is None:
        return override
    return Resources(
        limits={**base.limits, **override.limits},
        requests={**base.requests, **override.requests},
    )
