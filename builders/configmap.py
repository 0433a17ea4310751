"""A pod's ConfigMap: every config template of its AppImage rendered for that pod (SPEC §3, §4).

The API server refuses a ConfigMap whose keys and values add up to more than
1 MiB; rendering stops as soon as that budget is spent, so a template that
multiplies a large variable cannot make the controller build gigabytes first.
The ConfigMaps of one task also share a total (builders.limits), since all of
them are built in memory at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from builders import labels, rendering
from builders.errors import BuildError, Reason
from builders.models import KusciaTask
from builders.party import PartyFacts, PodFacts

MAX_CONFIG_MAP_BYTES = 1024 * 1024


def config_map(
    task: KusciaTask,
    party: PartyFacts,
    pod: PodFacts,
    values: Mapping[str, str],
    *,
    where: str,
    workspace: rendering.Workspace | None = None,
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The ConfigMap and the (file, variable) pairs that were not there when rendering.
    `workspace` is shared by every ConfigMap of the task."""
    assert pod.config_map is not None
    workspace = rendering.Workspace() if workspace is None else workspace
    budget = MAX_CONFIG_MAP_BYTES
    data: dict[str, str] = {}
    unknown: list[tuple[str, str]] = []
    app_image = party.app_image.metadata.name
    for file, template in party.checked.templates.items():
        budget -= len(file)
        limit = min(budget, workspace.output_left)
        try:
            rendered = rendering.render(template, values, limit=limit, workspace=workspace)
        except rendering.TemplateRefused as error:
            raise BuildError(
                Reason.CONFIG_RENDER_FAILED,
                f"{where}: {error} (AppImage {app_image!r} spec.configTemplates), "
                f"rendering it for pod {pod.name!r}",
                field=f"spec.configTemplates[{error.file!r}]",
            ) from None
        except rendering.OutputTooLarge as error:
            if limit < budget:
                raise BuildError(
                    Reason.CONFIG_MAP_TOO_LARGE,
                    f"{where}: the task's ConfigMaps together would exceed "
                    f"{workspace.output} bytes while rendering {file!r} for pod {pod.name!r} "
                    f"(AppImage {app_image!r} spec.configTemplates)",
                    field=f"spec.configTemplates[{error.file!r}]",
                ) from None
            raise BuildError(
                Reason.CONFIG_MAP_TOO_LARGE,
                f"{where}: ConfigMap {pod.config_map!r} for pod {pod.name!r} would exceed "
                f"{MAX_CONFIG_MAP_BYTES} bytes while rendering {file!r} "
                f"(AppImage {party.app_image.metadata.name!r} spec.configTemplates)",
                field=f"spec.configTemplates[{error.file!r}]",
            ) from None
        budget -= rendered.size
        workspace.output_left -= rendered.size
        data[file] = rendered.text
        unknown.extend((file, variable) for variable in dict.fromkeys(rendered.unknown))
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": pod.config_map,
            "namespace": party.domain_id,
            "labels": labels.common_labels(task),
            "annotations": labels.common_annotations(task, party.app_image.spec.image.id),
        },
        "data": data,
    }, unknown
