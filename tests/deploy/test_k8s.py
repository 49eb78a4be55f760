"""deploy/k8s/: valid for Kubernetes 1.37 by the API's own schemas (bundled by
kubernetes-validate, so offline), and consistent with the settings and ports the
containers run with. Applying them to a cluster is not exercised here."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from dashboard.access import check_exposure
from parallax.exposure import is_loopback
from tests.deploy.manifests import (
    DEPLOY,
    WORKLOADS,
    applied_resources,
    documents,
    kubernetes_resources,
    pods,
    port_of,
)

KUBERNETES = "1.37.0"
IMAGE_USER = 10001  # the Dockerfile's USER


def test_every_manifest_validates_strictly_against_kubernetes_1_37():
    validated = []
    for path, resource in kubernetes_resources():
        kubernetes_validate.validate(resource, KUBERNETES, strict=True)
        validated.append(f"{path.name}:{resource['kind']}")
    assert {"StatefulSet", "Deployment", "DaemonSet", "Service", "Secret"} <= {
        entry.partition(":")[2] for entry in validated
    }


def test_the_strict_schemas_refuse_a_misspelled_field():
    (statefulset,) = [r for r in applied_resources() if r["kind"] == "StatefulSet"]
    broken = copy.deepcopy(statefulset)
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinessprobe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_kustomize_applies_every_manifest_except_the_example_secrets():
    listed = documents(DEPLOY / "k8s" / "kustomization.yaml")[0]["resources"]
    present = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")}
    assert set(listed) == present - {"kustomization.yaml", "secrets.example.yaml"}
    assert not [r for r in applied_resources() if r["kind"] == "Secret"]


def test_every_secret_a_pod_mounts_is_described_in_the_example():
    described = {
        r["metadata"]["name"]
        for r in documents(DEPLOY / "k8s" / "secrets.example.yaml")
        if r["kind"] == "Secret"
    }
    mounted = {
        volume["secret"]["secretName"]
        for pod in pods().values()
        for volume in pod.spec["volumes"]
        if "secret" in volume
    }
    assert mounted == described


def test_every_container_runs_as_the_image_user_without_privileges_and_with_limits():
    for name, pod in pods().items():
        context = pod.spec["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert context["runAsUser"] == IMAGE_USER, name
        assert context["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod.spec["automountServiceAccountToken"] is False, name
        own = pod.container["securityContext"]
        assert own["allowPrivilegeEscalation"] is False, name
        assert own["readOnlyRootFilesystem"] is True, name
        assert own["capabilities"]["drop"] == ["ALL"], name
        for kind in ("requests", "limits"):
            assert set(pod.container["resources"][kind]) == {"cpu", "memory"}, name
        # A read-only root: Python, DuckDB and Streamlit write temporary files in /tmp.
        assert pod.volume_at("/tmp").get("emptyDir") is not None, name


def test_only_the_collectors_buffer_owner_runs_as_root_and_it_may_only_chown():
    for name, pod in pods().items():
        for init in pod.spec.get("initContainers", []):
            assert name == "collector"
            assert init["command"][0] == "chown"
            assert init["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["CHOWN"]}
            assert init["securityContext"]["allowPrivilegeEscalation"] is False


def test_services_select_their_pods_and_reach_named_container_ports():
    found = pods()
    services = [r for r in applied_resources() if r["kind"] == "Service"]
    assert {s["metadata"]["name"] for s in services} >= {
        "parallax-server",
        "parallax-dashboard",
        "parallax-collector",
    }
    for service in services:
        selector = service["spec"]["selector"]
        (pod,) = [p for p in found.values() if selector.items() <= p.labels.items()]
        assert pod.workload["metadata"]["namespace"] == service["metadata"]["namespace"]
        for port in service["spec"]["ports"]:
            assert pod.container_port(port["targetPort"]) == port["port"], port


def test_the_server_listens_where_its_service_probes_and_ports_say(tmp_path):
    pod = pods()["server"]
    settings = pod.settings(tmp_path).server
    assert pod.container_port("otlp-grpc") == port_of(settings.listen) == 4317
    assert pod.container_port("otlp-http") == port_of(settings.http_listen) == 4318
    assert pod.container_port("metrics") == port_of(settings.metrics_listen) == 9464
    probes = {kind: pod.container[kind]["httpGet"] for kind in ("livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert {pod.container_port(p["port"]) for p in probes.values()} == {9464}


def test_the_server_speaks_tls_and_requires_node_credentials_from_secrets(tmp_path):
    pod = pods()["server"]
    settings = pod.settings(tmp_path).server
    assert not is_loopback(settings.listen) and not settings.insecure
    assert pod.volume_at(settings.tls_cert_file)["secret"]["secretName"] == "parallax-server-tls"
    assert pod.volume_at(settings.tls_key_file)["secret"]["secretName"] == "parallax-server-tls"
    credentials = pod.volume_at(settings.credentials_file)["secret"]
    assert credentials["secretName"] == "parallax-server-credentials"
    # Mounted as a directory, not a subPath: a changed Secret reaches the running server.
    assert "subPath" not in pod.mount_at(settings.credentials_file)


def test_the_lake_is_one_volume_the_server_writes_and_the_dashboard_reads(tmp_path):
    found = pods()
    server, dashboard = found["server"], found["dashboard"]
    lake = server.settings(tmp_path).store.path
    assert dashboard.settings(tmp_path).store.path == lake
    (claim,) = server.workload["spec"]["volumeClaimTemplates"]
    assert server.mount_at(lake)["name"] == claim["metadata"]["name"]
    expected_claim = f"{claim['metadata']['name']}-{server.workload['metadata']['name']}-0"
    assert dashboard.volume_at(lake)["persistentVolumeClaim"]["claimName"] == expected_claim
    # ReadWriteOnce: the dashboard must run on the server's node.
    (term,) = dashboard.spec["affinity"]["podAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["labelSelector"]["matchLabels"].items() <= server.labels.items()
    assert term["topologyKey"] == "kubernetes.io/hostname"


def test_the_dashboard_signs_people_in_before_listening_beyond_loopback(tmp_path):
    pod = pods()["dashboard"]
    settings = pod.settings(tmp_path).dashboard
    assert not is_loopback(settings.listen) and settings.auth == "oidc"
    assert not settings.insecure
    check_exposure(settings)  # raises ConfigError when the start would be refused
    assert pod.container_port("http") == port_of(settings.listen) == 8501
    for secret_file in (settings.oidc_client_secret_file, settings.oidc_cookie_secret_file):
        assert pod.volume_at(secret_file)["secret"]["secretName"] == "parallax-dashboard-oidc"


def test_the_collector_is_its_node_with_a_buffer_on_the_node(tmp_path):
    pod = pods()["collector"]
    env = {v["name"]: v for v in pod.container["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    settings = pod.settings(tmp_path).collector
    assert settings.node_id == "<NODE_NAME>"
    assert pod.volume_at(settings.buffer_dir)["hostPath"]["path"] == settings.buffer_dir
    # Each pod sees its own node's token only.
    assert pod.mount_at(settings.token_file)["subPathExpr"] == "$(NODE_NAME)"
    assert pod.volume_at(settings.token_file)["secret"]["secretName"] == "parallax-node-tokens"


def test_the_collector_ships_over_tls_and_its_receivers_require_a_token(tmp_path):
    pod = pods()["collector"]
    settings = pod.settings(tmp_path).collector
    assert settings.backend.startswith("parallax-server.parallax.svc:")
    assert pod.volume_at(settings.backend_ca_file)["secret"]["secretName"] == "parallax-collector"
    assert not is_loopback(settings.listen) and not settings.insecure
    assert pod.volume_at(settings.receiver_token_file)["secret"]["secretName"] == (
        "parallax-collector"
    )
    assert pod.container_port("otlp-grpc") == port_of(settings.listen) == 4317
    assert pod.container_port("otlp-http") == port_of(settings.http_listen) == 4318
    assert pod.container_port("metrics") == port_of(settings.metrics_listen) == 9465


def test_the_collector_is_probed_by_grpc_health_and_its_health_endpoint(tmp_path):
    pod = pods()["collector"]
    settings = pod.settings(tmp_path).collector
    assert pod.container["readinessProbe"]["grpc"]["port"] == port_of(settings.listen)
    liveness = pod.container["livenessProbe"]["httpGet"]
    assert liveness["path"] == "/healthz"
    assert pod.container_port(liveness["port"]) == port_of(settings.metrics_listen)


def test_apps_reach_only_the_collector_of_their_own_node():
    (service,) = [
        r
        for r in applied_resources()
        if r["kind"] == "Service" and r["metadata"]["name"] == "parallax-collector"
    ]
    assert service["spec"]["internalTrafficPolicy"] == "Local"


def test_the_backend_namespace_enforces_the_restricted_pod_security_standard():
    namespaces = {
        r["metadata"]["name"]: r["metadata"]["labels"]
        for r in applied_resources()
        if r["kind"] == "Namespace"
    }
    assert namespaces["parallax"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for workload in (r for r in applied_resources() if r["kind"] in WORKLOADS):
        uses_host = any("hostPath" in v for v in workload["spec"]["template"]["spec"]["volumes"])
        assert uses_host == (workload["metadata"]["namespace"] == "parallax-edge")


PROMETHEUS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}


def test_every_pod_admits_its_ports_and_its_metrics_only_to_prometheus():
    policies = [r for r in applied_resources() if r["kind"] == "NetworkPolicy"]
    for component, pod in pods().items():
        namespace = pod.workload["metadata"]["namespace"]
        (policy,) = [
            p
            for p in policies
            if p["metadata"]["namespace"] == namespace
            and p["spec"]["podSelector"]["matchLabels"].items() <= pod.labels.items()
        ]
        admitted = {
            port["port"]: rule.get("from")
            for rule in policy["spec"]["ingress"]
            for port in rule["ports"]
        }
        served = {port["name"] for port in pod.container["ports"]}
        assert set(admitted) == served, component  # nothing it serves is shut out
        for name, sources in admitted.items():
            # the metrics ports do not authenticate; every other port does (TLS, tokens,
            # sign-in) and is open to any peer
            assert sources == ([PROMETHEUS] if name == "metrics" else None), (component, name)
