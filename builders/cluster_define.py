"""`TASK_CLUSTER_DEFINE` and `ALLOCATED_PORTS`, the two JSON documents a pod reads (SPEC §4).

The shapes and key names are Kuscia's (its appconfig protos in JSON form), written
compact and in a fixed key order so the same task always gives the same bytes.
The parties part is the same for every pod of a task, so it is encoded once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from builders.models import ContainerPort


@dataclass(frozen=True)
class PartyServices:
    """One party as the cluster define lists it: each served port with one endpoint per pod."""

    domain_id: str
    role: str
    services: tuple[tuple[str, tuple[str, ...]], ...]  # (port name, endpoints in pod order)


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode_parties(parties: Sequence[PartyServices]) -> str:
    return _dumps(
        [
            {
                "name": party.domain_id,
                "role": party.role,
                "services": [
                    {"portName": port, "endpoints": list(endpoints)}
                    for port, endpoints in party.services
                ],
            }
            for party in parties
        ]
    )


def task_cluster_define(parties_json: str, self_party: int, self_endpoint: int) -> str:
    return (
        f'{{"parties":{parties_json},"selfPartyIdx":{self_party},'
        f'"selfEndpointIdx":{self_endpoint}}}'
    )


def allocated_ports_json(ports: Sequence[ContainerPort], numbers: Mapping[str, int]) -> str:
    return _dumps(
        {
            "ports": [
                {
                    "name": port.name,
                    "port": numbers[port.name],
                    "scope": port.scope.value,
                    "protocol": port.protocol.value,
                }
                for port in ports
            ]
        }
    )
