"""An AppImage's own problems (SPEC §7), found once per revision and shared by every task.

The same pass compiles the config templates, since a template that does not
parse is one of those problems; `plan()` and the AppImage's `Valid` condition
therefore always agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from builders import limits, naming
from builders.errors import Problem, Reason
from builders.models import AppImage, Container, DeployTemplate
from builders.ports import MAX_PORT
from builders.rendering import (
    CompiledTemplate,
    TemplateRefused,
    TemplateSyntaxError,
    compile_template,
)
from builders.revision_cache import DEFAULT_CACHE, RevisionCache
from builders.selection import template_roles

_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")


@dataclass(frozen=True)
class CheckedAppImage:
    """What one AppImage revision gives every task: its compiled templates and its problems."""

    templates: Mapping[str, CompiledTemplate]
    problems: tuple[Problem, ...]


def validate_app_image(app_image: AppImage, cache: RevisionCache | None = None) -> list[Problem]:
    """The AppImage's own problems, [] when it is valid."""
    return list(checked(app_image, cache).problems)


def checked(app_image: AppImage, cache: RevisionCache | None = None) -> CheckedAppImage:
    return (DEFAULT_CACHE if cache is None else cache).get(app_image, check)


def check(app_image: AppImage) -> CheckedAppImage:
    problems = _Problems(app_image.metadata.name)
    templates = _compile_templates(app_image, problems)
    spec = app_image.spec
    if not spec.image.name:
        problems.add(Reason.INVALID_APP_IMAGE, "spec.image.name", "is empty")
    if not spec.image.tag:
        problems.add(Reason.INVALID_APP_IMAGE, "spec.image.tag", "is empty")
    if not spec.deploy_templates:
        problems.add(
            Reason.DEPLOY_TEMPLATE_NOT_FOUND, "spec.deployTemplates", "has no deploy template"
        )
    any_role = any(not template_roles(t) for t in spec.deploy_templates)
    roles = {role for t in spec.deploy_templates for role in template_roles(t)}
    for index, template in enumerate(spec.deploy_templates):
        where = f"spec.deployTemplates[{index}]"
        _check_template(template, where, set(spec.config_templates), problems)
        if template.network_policy is not None:
            _check_network_policy(template, where, None if any_role else roles, problems)
    return CheckedAppImage(templates, tuple(problems.found))


class _Problems:
    def __init__(self, app_image: str) -> None:
        self.app_image = app_image
        self.found: list[Problem] = []

    def add(self, reason: Reason, field: str, detail: str) -> None:
        self.found.append(Problem(reason, f"AppImage {self.app_image!r}: {field} {detail}", field))


def _compile_templates(app_image: AppImage, problems: _Problems) -> dict[str, CompiledTemplate]:
    compiled: dict[str, CompiledTemplate] = {}
    for file, text in app_image.spec.config_templates.items():
        field = f"spec.configTemplates[{file!r}]"
        if len(file) > 253 or file in {".", ".."} or not _CONFIG_KEY.fullmatch(file):
            problems.add(
                Reason.INVALID_APP_IMAGE,
                field,
                "is not a valid ConfigMap key (letters, digits, '-', '_', '.'; at most 253)",
            )
            continue
        try:
            compiled[file] = compile_template(file, text)
        except TemplateSyntaxError as error:
            problems.add(
                Reason.CONFIG_RENDER_FAILED,
                field,
                f"cannot be parsed: line {error.line} column {error.column}: {error.problem}",
            )
        except TemplateRefused as error:
            problems.add(Reason.CONFIG_RENDER_FAILED, field, error.problem)
    return compiled


def _check_template(
    template: DeployTemplate, where: str, config_files: set[str], problems: _Problems
) -> None:
    if template.replicas < 1:
        problems.add(Reason.INVALID_APP_IMAGE, f"{where}.replicas", "must be at least 1")
    elif template.replicas > limits.MAX_PODS:
        problems.add(
            Reason.TOO_MANY_PODS,
            f"{where}.replicas",
            f"is {template.replicas}; a task may have at most {limits.MAX_PODS} pods",
        )
    _check_nesting(f"{where}.spec.affinity", template.spec.affinity, problems)
    if not template.spec.containers:
        problems.add(Reason.INVALID_APP_IMAGE, f"{where}.spec.containers", "is empty")
    container_names: set[str] = set()
    port_names: set[str] = set()
    port_numbers: set[int] = set()
    for c_index, container in enumerate(template.spec.containers):
        c_where = f"{where}.spec.containers[{c_index}]"
        if not naming.is_dns1123_label(container.name):
            problems.add(Reason.INVALID_APP_IMAGE, f"{c_where}.name", "is not a DNS-1123 label")
        elif container.name in container_names:
            problems.add(
                Reason.INVALID_APP_IMAGE,
                f"{c_where}.name",
                f"repeats container name {container.name!r}",
            )
        container_names.add(container.name)
        _check_container_nesting(container, c_where, problems)
        for p_index, port in enumerate(container.ports):
            p_where = f"{c_where}.ports[{p_index}]"
            if not naming.is_iana_svc_name(port.name):
                problems.add(
                    Reason.INVALID_APP_IMAGE,
                    f"{p_where}.name",
                    f"{port.name!r} is not an IANA service name "
                    "(at most 15 lowercase letters, digits and '-', with a letter)",
                )
            if port.name in port_names:
                problems.add(
                    Reason.DUPLICATE_PORT_NAME,
                    f"{p_where}.name",
                    f"repeats port name {port.name!r} in the same deploy template",
                )
            port_names.add(port.name)
            if port.port is not None:
                if not 1 <= port.port <= MAX_PORT:
                    problems.add(
                        Reason.INVALID_APP_IMAGE, f"{p_where}.port", f"must be 1-{MAX_PORT}"
                    )
                elif port.port in port_numbers:
                    problems.add(
                        Reason.DUPLICATE_PORT_NUMBER,
                        f"{p_where}.port",
                        f"repeats port number {port.port} in the same deploy template",
                    )
                port_numbers.add(port.port)
        probe = container.metric_probe
        if probe is not None and probe.port and probe.port not in template_ports(template):
            problems.add(
                Reason.INVALID_APP_IMAGE,
                f"{c_where}.metricProbe.port",
                f"names port {probe.port!r}, which the deploy template does not have",
            )
        mount_paths: set[str] = set()
        for m_index, mount in enumerate(container.config_volume_mounts):
            m_where = f"{c_where}.configVolumeMounts[{m_index}]"
            if mount.sub_path not in config_files:
                problems.add(
                    Reason.CONFIG_TEMPLATE_NOT_FOUND,
                    f"{m_where}.subPath",
                    f"names {mount.sub_path!r}, which is not in spec.configTemplates",
                )
            if mount.mount_path in mount_paths:
                problems.add(
                    Reason.INVALID_APP_IMAGE,
                    f"{m_where}.mountPath",
                    f"repeats mount path {mount.mount_path!r} in the same container",
                )
            mount_paths.add(mount.mount_path)


def template_ports(template: DeployTemplate) -> set[str]:
    return {port.name for container in template.spec.containers for port in container.ports}


def _check_container_nesting(container: Container, where: str, problems: _Problems) -> None:
    opaque: dict[str, Any] = {
        "readinessProbe": container.readiness_probe,
        "livenessProbe": container.liveness_probe,
        "startupProbe": container.startup_probe,
        "securityContext": container.security_context,
        "envFrom": container.env_from,
    }
    for name, value in opaque.items():
        _check_nesting(f"{where}.{name}", value, problems)
    for e_index, env in enumerate(container.env):
        _check_nesting(f"{where}.env[{e_index}]", env.model_extra, problems)


def _check_nesting(field: str, value: Any, problems: _Problems) -> None:
    depth = limits.nesting(value)
    if depth > limits.MAX_NESTING:
        problems.add(
            Reason.INVALID_APP_IMAGE,
            field,
            f"nests more than {limits.MAX_NESTING} levels deep",
        )


def _check_network_policy(
    template: DeployTemplate, where: str, known_roles: set[str] | None, problems: _Problems
) -> None:
    """Ports must exist in this deploy template; roles must be served by some deploy
    template (any role may exist when one template serves every role)."""
    assert template.network_policy is not None
    ports = {port.name for container in template.spec.containers for port in container.ports}
    for i_index, ingress in enumerate(template.network_policy.ingresses):
        i_where = f"{where}.networkPolicy.ingresses[{i_index}]"
        for p_index, port in enumerate(ingress.ports):
            if port.port not in ports:
                problems.add(
                    Reason.INVALID_NETWORK_POLICY,
                    f"{i_where}.ports[{p_index}].port",
                    f"names port {port.port!r}, which the deploy template does not have",
                )
        if known_roles is None:
            continue
        for r_index, role in enumerate(ingress.from_.roles):
            if role not in known_roles:
                problems.add(
                    Reason.INVALID_NETWORK_POLICY,
                    f"{i_where}.from.roles[{r_index}]",
                    f"names role {role!r}, which no deploy template serves",
                )
