"""Kuscia's names for what a task produces, and the checks that keep them valid.

Pods keep Kuscia's plain names (tools look them up); a Pod name is a DNS subdomain,
so it may reach 253 characters. Services, ConfigMaps and NetworkPolicies are derived
from them and, past 63 characters, become
`{lead}-{prefix}-{16 hex of sha256(prefix)}-{suffix}`, so the name stays unique to its
full prefix and still shows where it came from. The pod identity label value is
shortened the same way past 63.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 63
SERVICE_LEAD = "svc"
CONFIG_MAP_LEAD = "cm"
NETWORK_POLICY_LEAD = "np"
_HASH_CHARS = 16

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
IANA_SVC_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
MAX_SUBDOMAIN = 253
_LETTER = re.compile(r"[a-z]")


def is_dns1123_label(name: str) -> bool:
    return len(name) <= MAX_NAME and DNS1123_LABEL.fullmatch(name) is not None


def is_dns1123_subdomain(name: str) -> bool:
    """What the name of a cluster-scoped object such as an AppImage must be."""
    return len(name) <= MAX_SUBDOMAIN and DNS1123_SUBDOMAIN.fullmatch(name) is not None


def is_dns1035_label(name: str) -> bool:
    return len(name) <= MAX_NAME and DNS1035_LABEL.fullmatch(name) is not None


def is_iana_svc_name(name: str) -> bool:
    return (
        len(name) <= 15
        and IANA_SVC_NAME.fullmatch(name) is not None
        and _LETTER.search(name) is not None
    )


def pod_name(task: str, role: str, index: int) -> str:
    return f"{task}-{role}-{index}" if role else f"{task}-{index}"


def pod_identity(task_uid: str, role: str, index: int) -> str:
    """The label value that ties a pod to its Services; parts left empty are skipped.
    Past 63 characters (a long role) the role becomes 16 hex of its sha256."""
    identity = "-".join(part for part in (task_uid, role, str(index)) if part)
    if len(identity) > MAX_NAME:
        digest = hashlib.sha256(role.encode()).hexdigest()[:_HASH_CHARS]
        identity = f"{task_uid}-{digest}-{index}"
    return identity


def party_name(task: str, role: str) -> str:
    return f"{task}-{role}" if role else task


def service_name(pod: str, port: str) -> str:
    """`{pod}-{port}`; `svc-` in front when it would start with a digit; hashed past 63."""
    return _derived_name(pod, port, lead=SERVICE_LEAD, must_start_with_letter=True)


def config_map_name(pod: str) -> str:
    return _derived_name(pod, "config", lead=CONFIG_MAP_LEAD, must_start_with_letter=False)


def network_policy_name(task: str, role: str) -> str:
    if not role:
        return _shorten(task, "", lead=NETWORK_POLICY_LEAD) if len(task) > MAX_NAME else task
    return _derived_name(task, role, lead=NETWORK_POLICY_LEAD, must_start_with_letter=False)


def _derived_name(prefix: str, suffix: str, *, lead: str, must_start_with_letter: bool) -> str:
    name = f"{prefix}-{suffix}"
    if must_start_with_letter and not name[0].isalpha():
        name = f"{lead}-{name}"
    if len(name) > MAX_NAME:
        name = _shorten(prefix, suffix, lead=lead)
    return name


def _shorten(prefix: str, suffix: str, *, lead: str) -> str:
    digest = hashlib.sha256(prefix.encode()).hexdigest()[:_HASH_CHARS]
    tail = f"-{digest}-{suffix}" if suffix else f"-{digest}"
    room = MAX_NAME - len(lead) - 1 - len(tail)
    # Cut as Kuscia cuts, a trailing '-' kept, so the name is the one Kuscia's tools compute.
    kept = prefix[: max(room, 0)]
    return f"{lead}-{kept}{tail}" if kept else f"{lead}{tail}"


def port_number_env(port: str) -> str:
    """`KUSCIA_PORT_{NAME}_NUMBER`, the env var carrying a port's number."""
    return f"KUSCIA_PORT_{port.upper().replace('-', '_')}_NUMBER"
