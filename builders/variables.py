"""The variables a config template sees for one pod (SPEC §4's table).

Container env values come first (names upper-cased; the first container to
define a name wins), then each port's `KUSCIA_PORT_{NAME}_NUMBER`, then Kuscia's
built-in variables, which nothing can shadow.
"""

from __future__ import annotations

from builders import naming
from builders.models import KusciaTask
from builders.party import PartyFacts, PodFacts


def party_env(party: PartyFacts) -> dict[str, str]:
    """Literal env values of the party's containers (entries with valueFrom have none)."""
    values: dict[str, str] = {}
    for container in party.template.spec.containers:
        for env in container.env:
            if env.value is not None:
                values.setdefault(env.name.upper(), env.value)
    return values


def pod_values(
    task: KusciaTask,
    party: PartyFacts,
    pod: PodFacts,
    env: dict[str, str],
    *,
    cluster_define: str,
    allocated_ports: str,
) -> dict[str, str]:
    values = dict(env)
    for port, number in pod.ports.items():
        values[naming.port_number_env(port)] = str(number)
    values["TASK_ID"] = task.metadata.name
    values["TASK_INPUT_CONFIG"] = task.spec.task_input_config
    values["TASK_CLUSTER_DEFINE"] = cluster_define
    values["ALLOCATED_PORTS"] = allocated_ports
    values["KUSCIA_DOMAIN_ID"] = party.domain_id
    return values
