"""Kuscia's naming rules (SPEC §3): plain names, `svc-` before a digit, hashing past 63."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from builders import naming

LABEL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"

# DNS-1123 labels of any length up to 63 (pod names are refused beyond that).
dns_labels = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
letter_first_labels = st.from_regex(r"\A[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")
port_names = st.from_regex(r"\A[a-z0-9]{1,7}(-[a-z0-9]{1,3})?\Z").filter(naming.is_iana_svc_name)


def test_pod_names_are_task_role_index_or_task_index_without_a_role() -> None:
    assert naming.pod_name("job", "server", 2) == "job-server-2"
    assert naming.pod_name("job", "", 0) == "job-0"


def test_pod_identity_is_task_uid_role_index() -> None:
    assert naming.pod_identity("uid-1", "client", 1) == "uid-1-client-1"
    assert naming.pod_identity("uid-1", "", 3) == "uid-1-3"


def test_service_name_is_pod_dash_port() -> None:
    assert naming.service_name("job-server-0", "global") == "job-server-0-global"


def test_service_name_starting_with_a_digit_gets_svc_in_front() -> None:
    assert naming.service_name("1job-0", "fed") == "svc-1job-0-fed"


def test_config_map_name_is_pod_dash_config() -> None:
    assert naming.config_map_name("job-server-0") == "job-server-0-config"
    # ConfigMap names may start with a digit; only Service names need a letter first.
    assert naming.config_map_name("1job-0") == "1job-0-config"


def test_network_policy_name_is_task_dash_role_or_task() -> None:
    assert naming.network_policy_name("job", "server") == "job-server"
    assert naming.network_policy_name("job", "") == "job"


def test_service_name_over_63_characters_becomes_svc_prefix_hash_port() -> None:
    pod = "a" * 55 + "-0"
    name = naming.service_name(pod, "global")
    digest = hashlib.sha256(pod.encode()).hexdigest()[:16]
    assert len(name) == 63
    assert name.startswith("svc-aaaa")
    assert name.endswith(f"-{digest}-global")


def test_config_map_name_over_63_characters_is_hashed_the_same_way() -> None:
    pod = "b" * 60 + "-0"
    name = naming.config_map_name(pod)
    digest = hashlib.sha256(pod.encode()).hexdigest()[:16]
    assert len(name) == 63
    assert name.startswith("cm-bbbb")
    assert name.endswith(f"-{digest}-config")


def test_port_number_env_is_upper_case_with_underscores() -> None:
    assert naming.port_number_env("spu") == "KUSCIA_PORT_SPU_NUMBER"
    assert naming.port_number_env("inter-node") == "KUSCIA_PORT_INTER_NODE_NUMBER"


def test_iana_service_names_need_a_letter_and_at_most_15_characters() -> None:
    assert naming.is_iana_svc_name("global")
    assert naming.is_iana_svc_name("grpc-2")
    assert not naming.is_iana_svc_name("8080")
    assert not naming.is_iana_svc_name("a" * 16)
    assert not naming.is_iana_svc_name("Global")
    assert not naming.is_iana_svc_name("a--b")


@given(pod=dns_labels, port=port_names)
def test_service_names_are_short_dns_labels_starting_with_a_letter(pod: str, port: str) -> None:
    name = naming.service_name(pod, port)
    assert len(name) <= 63
    assert naming.is_dns1123_label(name)
    assert naming.is_dns1035_label(name)
    assert name == naming.service_name(pod, port)  # deterministic


@given(pod=dns_labels)
def test_config_map_names_are_short_dns_labels(pod: str) -> None:
    name = naming.config_map_name(pod)
    assert len(name) <= 63
    assert naming.is_dns1123_label(name)
    assert name == naming.config_map_name(pod)


@given(task=dns_labels, role=st.one_of(st.just(""), dns_labels))
def test_network_policy_names_are_short_dns_labels(task: str, role: str) -> None:
    name = naming.network_policy_name(task, role)
    assert len(name) <= 63
    assert naming.is_dns1123_label(name)


@given(first=letter_first_labels, second=letter_first_labels, port=port_names)
def test_distinct_pods_get_distinct_service_and_config_map_names(
    first: str, second: str, port: str
) -> None:
    if first != second:
        assert naming.service_name(first, port) != naming.service_name(second, port)
        assert naming.config_map_name(first) != naming.config_map_name(second)


@given(pod=dns_labels, first=port_names, second=port_names)
def test_distinct_ports_of_a_pod_get_distinct_service_names(
    pod: str, first: str, second: str
) -> None:
    if first != second:
        assert naming.service_name(pod, first) != naming.service_name(pod, second)


@given(
    pods=st.lists(st.tuples(letter_first_labels, port_names), min_size=2, max_size=2, unique=True)
)
def test_hashed_names_differ_whenever_the_full_names_differ(pods: list[tuple[str, str]]) -> None:
    (pod_a, port_a), (pod_b, port_b) = pods
    if f"{pod_a}-{port_a}" != f"{pod_b}-{port_b}":
        assert naming.service_name(pod_a, port_a) != naming.service_name(pod_b, port_b)
