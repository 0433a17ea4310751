"""Port numbers per pod: fixed ports keep their number, the rest are allocated (SPEC §3).

Numbers already recorded in the task status win, so rebuilding a task never
moves a port. New numbers are counted up from one base per pod, skipping any
number the pod already uses: every pod has its own IP, so pods need not differ,
and replicas of one party end up with the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from builders.errors import BuildError, Reason
from builders.models import AllocatedPorts, ContainerPort

ALLOCATION_BASE = 20000
MAX_PORT = 65535


def port_key(pod: str, port: str) -> str:
    """Kuscia's key in `allocatedPorts[].namedPort`."""
    return f"{pod}/{port}"


def allocate_pod(
    pod: str, ports: Sequence[ContainerPort], recorded: Mapping[str, int], *, where: str
) -> dict[str, int]:
    """Port name -> number for one pod, in template order. `where` names the party in errors."""
    numbers: dict[str, int] = {}
    owner: dict[int, str] = {}

    def take(name: str, number: int) -> None:
        if number in owner:
            raise BuildError(
                Reason.DUPLICATE_PORT_NUMBER,
                f"{where}: pod {pod!r} would use port number {number} for both "
                f"{owner[number]!r} and {name!r}",
                field="spec.containers[].ports[].port",
            )
        owner[number] = name
        numbers[name] = number

    for port in ports:
        number = recorded.get(port_key(pod, port.name))
        if number is not None and 1 <= number <= MAX_PORT:
            take(port.name, number)
        elif port.port is not None:
            take(port.name, port.port)
    candidate = ALLOCATION_BASE
    for port in ports:
        if port.name in numbers:
            continue
        while candidate in owner:
            candidate += 1
        if candidate > MAX_PORT:
            raise BuildError(
                Reason.PORTS_EXHAUSTED,
                f"{where}: no free port number left for {port.name!r} in pod {pod!r}",
                field="spec.containers[].ports[]",
            )
        take(port.name, candidate)
    return {port.name: numbers[port.name] for port in ports}


def allocated_ports(
    domain_id: str, role: str, pods: Mapping[str, Mapping[str, int]]
) -> AllocatedPorts:
    """Kuscia's status shape: {domainID, role, namedPort: {"{pod}/{port}": number}}."""
    named = {
        port_key(pod, name): number for pod, ports in pods.items() for name, number in ports.items()
    }
    return AllocatedPorts(domain_id=domain_id, role=role, named_port=named)
