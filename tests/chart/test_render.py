"""What the chart renders, read back as objects: names, labels, the controller's
flags, restricted pod security, RBAC without wildcards, and the optional parts."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from devcluster import versions
from reconciler.commands import cli
from tests.chart.chart import (
    CHART,
    FULL_VALUES,
    SERVICE_MONITOR_API,
    Helm,
    HelmError,
    load_values,
)
from tests.conftest import REPO

STANDARD_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
)


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def test_app_version_is_the_package_version() -> None:
    chart = load_values(CHART / "Chart.yaml")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == project["version"]


@pytest.mark.parametrize("values", [[], [FULL_VALUES]], ids=["defaults", "full-values"])
def test_helm_lint_is_clean(helm: Helm, values: list[Any]) -> None:
    args = ["lint", "--strict", str(CHART)]
    for path in values:
        args += ["--values", str(path)]
    result = helm.run(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
    for level in ("[INFO]", "[WARNING]", "[ERROR]"):
        assert level not in result.stdout, result.stdout


def test_default_values_render_the_controller_and_its_rbac(helm: Helm) -> None:
    rendered = helm.template()
    assert rendered.kinds() == sorted(
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Lease",
            "PodDisruptionBudget",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
            "ValidatingAdmissionPolicyBinding",
        ]
    )
    deployment = rendered.one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert rendered.one("Role")["metadata"]["namespace"] == "kuscia-system"
    assert "CustomResourceDefinition" not in rendered.text  # they stay in crds/


@pytest.mark.parametrize("values", [[], [FULL_VALUES]], ids=["defaults", "full-values"])
def test_every_object_carries_the_standard_labels(helm: Helm, values: list[Any]) -> None:
    rendered = helm.template(values=values, api_versions=[SERVICE_MONITOR_API])
    for obj in rendered.objects:
        labels = obj["metadata"]["labels"]
        missing = [label for label in STANDARD_LABELS if label not in labels]
        assert not missing, f"{obj['kind']} {obj['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "kuscia-reconciler-0.1.0"
    pod_labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    selector = rendered.one("Deployment")["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert rendered.one("Service")["spec"]["selector"] == selector
    assert rendered.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector


def test_names_are_cut_to_63_characters_keeping_their_suffixes(helm: Helm) -> None:
    release = "a-release-name-as-long-as-helm-allows-which-is-53-chr"
    assert len(release) == 53
    rendered = helm.template(release=release)
    names = {(o["kind"], o["metadata"]["name"]) for o in rendered.objects}
    assert all(len(name) <= 63 for _, name in names), names
    assert all(not name.endswith("-") for _, name in names), names
    role_names = {o["metadata"]["name"] for o in rendered.of_kind("Role")}
    assert all(name.endswith("-leader-election") for name in role_names)
    assert rendered.one("Service")["metadata"]["name"].endswith("-metrics")


def test_the_lease_is_the_releases_own_so_uninstall_removes_it(helm: Helm) -> None:
    rendered = helm.template(release="kr", namespace="ops")
    lease = rendered.one("Lease")
    args = _container(rendered.one("Deployment"))["args"]
    assert f"--leader-election-id={lease['metadata']['name']}" in args
    assert lease["metadata"]["namespace"] == "ops"
    assert "spec" not in lease  # the holder is the controller's to write
    named = helm.template(settings={"leaderElection.leaseName": "elsewhere"})
    assert named.one("Lease")["metadata"]["name"] == "elsewhere"


def test_release_named_like_the_chart_is_not_repeated(helm: Helm) -> None:
    rendered = helm.template(release="kuscia-reconciler")
    assert rendered.one("Deployment")["metadata"]["name"] == "kuscia-reconciler"


def test_controller_gets_leader_election_in_the_release_namespace(helm: Helm) -> None:
    rendered = helm.template(release="kr", namespace="ops")
    args = _container(rendered.one("Deployment"))["args"]
    assert "--leader-elect" in args
    assert "--leader-election-namespace=ops" in args
    assert "--leader-election-id=kr-kuscia-reconciler" in args
    lease_role = rendered.one("Role")
    assert lease_role["metadata"]["namespace"] == "ops"
    assert {"kr-kuscia-reconciler"} == {
        name for rule in lease_role["rules"] for name in rule.get("resourceNames", [])
    }


@pytest.mark.parametrize("values", [[], [FULL_VALUES]], ids=["defaults", "full-values"])
def test_every_flag_the_chart_passes_is_one_the_cli_accepts(
    helm: Helm, values: list[Any], tmp_path: Path
) -> None:
    args = _container(helm.template(values=values).one("Deployment"))["args"]
    # The key file lives in the mounted Secret; here a real public key stands in for it.
    key = Ed25519PrivateKey.generate().public_key()
    (tmp_path / "keys.pem").write_bytes(
        key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    prefix = "--image-verify-key=/etc/kuscia-reconciler/image-keys/"
    args = [
        f"--image-verify-key={tmp_path}/{a[len(prefix) :]}" if a.startswith(prefix) else a
        for a in args
    ]
    parsed = cli._parser().parse_args(["run", *args])
    settings = cli._settings(parsed)
    assert settings.leader.enabled


def test_full_values_reach_the_controller_and_its_pods(helm: Helm) -> None:
    rendered = helm.template(release="kr", values=[FULL_VALUES])
    deployment = rendered.one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert deployment["spec"]["replicas"] == 3
    assert container["image"] == (
        "registry.example.internal/kuscia/kuscia-reconciler@sha256:"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    )
    assert container["args"][-1] == "--log-level=info"  # extraArgs come last and win
    for flag in (
        "--namespace=cross-domain",
        "--workers=8",
        "--keep-finished",
        "--log-format=console",
        "--metrics-bind-address=:9090",
        "--health-probe-bind-address=:9440",
        "--leader-election-id=kuscia-reconciler-leader",
    ):
        assert flag in container["args"]
    assert container["env"] == [{"name": "TZ", "value": "UTC"}]
    assert pod["serviceAccountName"] == "kuscia-reconciler-sa"
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert "podAntiAffinity" in pod["affinity"]
    spread = pod["topologySpreadConstraints"][0]
    assert spread["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "kr"
    assert pod["terminationGracePeriodSeconds"] == 45
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "1Gi"}
    assert rendered.one("PodDisruptionBudget")["spec"]["maxUnavailable"] == "50%"
    service = rendered.one("Service")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9091, "targetPort": "metrics", "protocol": "TCP"}
    ]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 9090, "health": 9440}
    assert "--image-verify-key=/etc/kuscia-reconciler/image-keys/keys.pem" in container["args"]
    mount = {
        "name": "image-keys",
        "mountPath": "/etc/kuscia-reconciler/image-keys",
        "readOnly": True,
    }
    assert mount in container["volumeMounts"]
    assert {"name": "image-keys", "secret": {"secretName": "image-signing-keys"}} in pod["volumes"]


def test_image_verification_is_off_by_default(helm: Helm) -> None:
    container = _container(helm.template(release="kr").one("Deployment"))
    assert not any(arg.startswith("--image-verify-key") for arg in container["args"])
    assert [m["name"] for m in container["volumeMounts"]] == ["tmp"]


@pytest.mark.parametrize("values", [[], [FULL_VALUES]], ids=["defaults", "full-values"])
def test_pods_run_under_the_restricted_pod_security_standard(helm: Helm, values: list[Any]) -> None:
    deployment = helm.template(values=values).one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    assert not {"hostNetwork", "hostPID", "hostIPC"} & pod.keys()


def test_probes_ask_the_health_port(helm: Helm) -> None:
    container = _container(helm.template().one("Deployment"))
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    assert "--health-probe-bind-address=:8081" in container["args"]
    assert container["resources"]["requests"]["memory"]
    assert container["resources"]["limits"]["memory"]


@pytest.mark.parametrize("values", [[], [FULL_VALUES]], ids=["defaults", "full-values"])
def test_rbac_has_no_wildcard(helm: Helm, values: list[Any]) -> None:
    rendered = helm.template(values=values)
    for role in rendered.of_kind("ClusterRole") + rendered.of_kind("Role"):
        for rule in role["rules"]:
            assert "nonResourceURLs" not in rule
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert not any("*" in item for item in rule.get(field, [])), (role, rule)


def test_watch_namespaces_grant_tasks_by_a_role_in_that_namespace(helm: Helm) -> None:
    rendered = helm.template(release="kr", namespace="ops", settings={"watchNamespaces[0]": "work"})
    cluster_resources = {
        resource for rule in rendered.one("ClusterRole")["rules"] for resource in rule["resources"]
    }
    assert not cluster_resources & {"kusciatasks", "kusciatasks/status", "events"}
    roles = {
        (r["metadata"]["namespace"], r["metadata"]["name"]): r for r in rendered.of_kind("Role")
    }
    assert set(roles) == {
        ("work", "kr-kuscia-reconciler-tasks"),
        ("default", "kr-kuscia-reconciler-tasks"),
        ("ops", "kr-kuscia-reconciler-leader-election"),
    }
    work = {
        res
        for rule in roles["work", "kr-kuscia-reconciler-tasks"]["rules"]
        for res in rule["resources"]
    }
    assert work == {"kusciatasks", "kusciatasks/status", "events"}
    bindings = {
        (b["metadata"]["namespace"], b["roleRef"]["name"]) for b in rendered.of_kind("RoleBinding")
    }
    assert bindings == set(roles)
    assert "--namespace=work" in _container(rendered.one("Deployment"))["args"]


def test_watching_the_default_namespace_makes_one_role_there(helm: Helm) -> None:
    rendered = helm.template(settings={"watchNamespaces[0]": "default"})
    namespaces = sorted(r["metadata"]["namespace"] for r in rendered.of_kind("Role"))
    assert namespaces == ["default", "kuscia-system"]


def test_rbac_and_service_account_can_be_left_out(helm: Helm) -> None:
    rendered = helm.template(settings={"rbac.create": "false", "serviceAccount.create": "false"})
    assert rendered.kinds() == [
        "Deployment",
        "Lease",
        "PodDisruptionBudget",
        "Service",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingAdmissionPolicyBinding",
    ]
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "default"


def test_service_monitor_is_rendered_only_where_its_api_is_served(helm: Helm) -> None:
    enabled = {"metrics.serviceMonitor.enabled": "true"}
    assert not helm.template(settings=enabled).of_kind("ServiceMonitor")
    monitor = helm.template(settings=enabled, api_versions=[SERVICE_MONITOR_API]).one(
        "ServiceMonitor"
    )
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert not helm.template(api_versions=[SERVICE_MONITOR_API]).of_kind("ServiceMonitor")


def test_pod_disruption_budget_is_optional(helm: Helm) -> None:
    rendered = helm.template(settings={"podDisruptionBudget.enabled": "false"})
    assert not rendered.of_kind("PodDisruptionBudget")


def test_several_replicas_without_leader_election_are_refused(helm: Helm) -> None:
    with pytest.raises(HelmError) as refused:
        helm.template(settings={"leaderElection.enabled": "false"})
    assert "replicaCount > 1 needs leaderElection.enabled" in refused.value.stderr
    single = helm.template(settings={"leaderElection.enabled": "false", "replicaCount": "1"})
    assert "--leader-elect" not in _container(single.one("Deployment"))["args"]
    assert [r["metadata"]["name"] for r in single.of_kind("Role")] == []
    assert not single.of_kind("Lease")


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("replicaCount", "two", "at '/replicaCount': got string, want integer"),
        ("controller.workers", "0", "at '/controller/workers': minimum: got 0, want 1"),
        (
            "controller.logFormat",
            "xml",
            "at '/controller/logFormat': value must be one of 'json', 'console'",
        ),
        ("metrics.port", "70000", "at '/metrics/port': maximum: got 70,000, want 65,535"),
        (
            "leaderElection.enabled",
            "maybe",
            "at '/leaderElection/enabled': got string, want boolean",
        ),
        ("watchNamespaces", "{a,b}", "at '/watchNamespaces': maxItems: got 2, want 1"),
    ],
)
def test_values_schema_rejects_a_wrong_value_naming_the_key(
    helm: Helm, setting: str, value: str, says: str
) -> None:
    with pytest.raises(HelmError) as refused:
        helm.template(settings={setting: value})
    message = refused.value.stderr
    assert "values don't meet the specifications of the schema" in message
    assert says in message, message


def test_values_schema_rejects_a_misspelt_key(helm: Helm) -> None:
    with pytest.raises(HelmError) as refused:
        helm.template(settings={"replicas": "3"})
    assert "at '': additional properties 'replicas' not allowed" in refused.value.stderr


def test_notes_say_how_to_check_it_works_and_to_delete_tasks_before_uninstalling(
    helm: Helm,
) -> None:
    result = helm.run(
        "install", "kr", str(CHART), "--namespace", "ops", "--dry-run=client",
        "--set", "metrics.serviceMonitor.enabled=true",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "kubectl -n ops rollout status deployment/kr-kuscia-reconciler" in notes
    assert "kubectl -n ops get lease kr-kuscia-reconciler" in notes
    assert "kubectl delete kusciatasks --all -A --wait" in notes
    assert notes.index("delete kusciatasks") < notes.index("helm uninstall")
    assert "does not serve\nmonitoring.coreos.com/v1 ServiceMonitor" in notes


POLICY_KINDS = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
DOMAIN_API = "kuscia.secretflow/v1alpha1/Domain"
SHIPPED = "kuscia-reconciler-task-parties"


def test_the_admission_policy_is_the_shipped_file_named_after_the_release(helm: Helm) -> None:
    shipped = {
        (o["kind"], o["metadata"]["name"]): o
        for o in yaml.safe_load_all((CHART / "admission" / "kusciatask-parties.yaml").read_text())
    }
    rendered = helm.template(release="kr", namespace="ops")
    policy = rendered.one("ValidatingAdmissionPolicy")
    assert policy["metadata"]["name"] == "kr-kuscia-reconciler-task-parties"
    assert policy["spec"] == shipped[("ValidatingAdmissionPolicy", SHIPPED)]["spec"]
    bindings = {
        b["metadata"]["name"]: b for b in rendered.of_kind("ValidatingAdmissionPolicyBinding")
    }
    assert sorted(bindings) == [
        "kr-kuscia-reconciler-task-parties",
        "kr-kuscia-reconciler-task-parties-reserved",
    ]
    for name, binding in bindings.items():
        assert binding["spec"]["policyName"] == policy["metadata"]["name"]
        original = shipped[("ValidatingAdmissionPolicyBinding", name.removeprefix("kr-"))]["spec"]
        assert binding["spec"]["validationActions"] == original["validationActions"]
    domains = bindings["kr-kuscia-reconciler-task-parties"]["spec"]["paramRef"]
    assert domains == shipped[("ValidatingAdmissionPolicyBinding", SHIPPED)]["spec"]["paramRef"]
    (reserved,) = bindings["kr-kuscia-reconciler-task-parties-reserved"]["spec"]["paramRef"][
        "selector"
    ]["matchExpressions"]
    assert reserved["values"] == ["kube-system", "kube-public", "kube-node-lease", "default", "ops"]
    disabled = helm.template(settings={"admissionPolicy.enabled": "false"})
    assert not any(disabled.of_kind(kind) for kind in POLICY_KINDS)


def test_the_controller_is_told_its_namespace_which_is_never_a_domain(helm: Helm) -> None:
    args = _container(helm.template(namespace="ops").one("Deployment"))["args"]
    assert "--controller-namespace=ops" in args


def test_kuscia_domains_are_read_only_where_their_api_is_served(helm: Helm) -> None:
    def domain_verbs(rendered: Any) -> set[str]:
        return {g.verb for g in rendered.grants() if g.resource == "domains"}

    assert domain_verbs(helm.template()) == set()
    assert domain_verbs(helm.template(api_versions=[DOMAIN_API])) == {"list", "watch"}


def test_notes_say_how_to_designate_domains(helm: Helm) -> None:
    result = helm.run("install", "kr", str(CHART), "--namespace", "ops", "--dry-run=client")
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "kubectl label namespace <party namespace> kuscia.secretflow/domain=true" in notes
    assert "kube-system, kube-public, kube-node-lease, default or ops" in notes
    assert "kr-kuscia-reconciler-task-parties" in notes


def test_the_chart_declares_the_oldest_supported_minor_as_its_kube_version() -> None:
    chart = load_values(CHART / "Chart.yaml")
    assert chart["kubeVersion"] == f">={versions.oldest()}.0-0"


@pytest.mark.parametrize("minor", versions.supported())
def test_the_chart_renders_for_every_supported_minor(helm: Helm, minor: str) -> None:
    rendered = helm.template(kube_version=f"v{minor}.0")
    assert "Deployment" in rendered.kinds()


def test_the_chart_refuses_a_cluster_older_than_the_oldest_supported_minor(helm: Helm) -> None:
    major, minor = versions.key(versions.oldest())
    older = f"v{major}.{minor - 1}.14"
    with pytest.raises(HelmError) as refused:
        helm.template(kube_version=older)
    assert f">={versions.oldest()}.0-0" in refused.value.stderr
    assert older in refused.value.stderr
