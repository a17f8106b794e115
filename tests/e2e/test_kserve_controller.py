"""The real KServe (controller manager + admission webhooks, RawDeployment) meets our InferenceService.

Why: the session's test cluster runs this KServe too, with pods run by the node agent; this module
pins, on a server of its own with no controllers and no nodes, what KServe itself (built from its Go
module, see tests/e2e/kserve/README.md) makes of exactly what `build_inference_service` produces,
before any pod exists: what admission defaulting changes, which Deployment and Service the controller
creates, the readiness probe it adds, what the status carries and what validation refuses.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from stockops.crd.ticker_model import TickerModelSpec
from stockops.devcluster import DevClusterError, LocalApiServer, build_tool
from stockops.operator.builders import Owner, build_inference_service
from stockops.operator.settings import OperatorSettings


def _load_kserve_control() -> ModuleType:
    # A helper beside this file, not a package module (tests/ has no __init__.py): load it by path, as
    # conftest.py loads its helpers, and register it so its dataclasses resolve their module.
    name = "stockops_e2e_kserve_control"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("kserve_control.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


kc = _load_kserve_control()

ISVC = ("serving.kserve.io", "v1beta1", "inferenceservices")
SETTINGS = OperatorSettings(mlflow_tracking_uri="http://mlflow:5000", data_source="csv:/data")
T = TypeVar("T")


@dataclass(frozen=True)
class KServeCluster:
    api: k8s_client.ApiClient
    manager: Any  # kserve_control.KServeManager
    release: Any  # kserve_control.KServeRelease
    server: LocalApiServer


@pytest.fixture(scope="module")
def kserve_cluster(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KServeCluster]:
    """A test API server with KServe's CRDs, config map, webhooks and running controller manager."""
    work = tmp_path_factory.mktemp("kserve")
    try:
        release = kc.find_kserve(repo_root)
        binary = build_tool(repo_root, "testenv")
    except (kc.KServeError, DevClusterError) as exc:
        pytest.fail(str(exc))
    server = LocalApiServer.start(binary, work / "kube", log_path=work / "apiserver.log")
    try:
        kubeconfig = server.kubeconfig()
        api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
        kc.install_kserve(api, release)
        manager = kc.KServeManager.start(release, kubeconfig, work / "manager")
        try:
            kc.register_webhooks(api, release, manager.webhook_port, manager.ca_pem)
            yield KServeCluster(api=api, manager=manager, release=release, server=server)
            if not manager.alive():
                pytest.fail(f"the KServe manager died during the tests:\n{manager.log_tail()}")
        finally:
            kc.unregister_webhooks(api, release)
            manager.stop()
    finally:
        server.stop()


@pytest.fixture
def namespace(kserve_cluster: KServeCluster) -> str:
    name = f"e2e-kserve-{uuid.uuid4().hex[:6]}"
    k8s_client.CoreV1Api(kserve_cluster.api).create_namespace({"metadata": {"name": name}})
    return name


def operator_isvc(namespace: str, name: str, serving: dict[str, Any] | None = None) -> dict[str, Any]:
    """Exactly what the operator creates for a TickerModel (RawDeployment is its default mode)."""
    spec = {"ticker": "AAPL", "parentRef": {"name": "gspc"}, **({"serving": serving} if serving else {})}
    owner = Owner("TickerModel", name, namespace, str(uuid.uuid4()), 1)
    return build_inference_service(
        owner,
        TickerModelSpec.model_validate(spec),
        SETTINGS,
        name=name,
        model_name="stockops-aapl",
        model_version="3",
    )


def predictor_container(isvc: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = isvc["spec"]["predictor"]["containers"][0]
    return container


def create_isvc(cluster: KServeCluster, body: dict[str, Any]) -> dict[str, Any]:
    namespace = body["metadata"]["namespace"]
    created: dict[str, Any] = k8s_client.CustomObjectsApi(cluster.api).create_namespaced_custom_object(
        *ISVC[:2], namespace, ISVC[2], body
    )
    return created


def read_isvc(cluster: KServeCluster, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = k8s_client.CustomObjectsApi(cluster.api).get_namespaced_custom_object(
        *ISVC[:2], namespace, ISVC[2], name
    )
    return found


def wait_for(what: str, probe: Callable[[], T | None], cluster: KServeCluster, timeout: float = 60.0) -> T:
    """Poll until `probe` returns something; on timeout fail with the manager's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        assert cluster.manager.alive(), f"the KServe manager exited:\n{cluster.manager.log_tail()}"
        time.sleep(0.5)
    pytest.fail(
        f"timed out after {timeout:.0f}s waiting for {what}; manager log:\n{cluster.manager.log_tail()}"
    )


def read_or_none(cluster: KServeCluster, read: Callable[[], Any]) -> dict[str, Any] | None:
    """The object as plain JSON (camelCase, like a manifest), or None while it does not exist."""
    try:
        found: dict[str, Any] = cluster.api.sanitize_for_serialization(read())
        return found
    except k8s_client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def as_stored(probe: dict[str, Any]) -> dict[str, Any]:
    """A probe as the API server stores it: successThreshold and the HTTP scheme defaulted."""
    stored = {"successThreshold": 1, **probe}
    if "httpGet" in probe:
        stored["httpGet"] = {"scheme": "HTTP", **probe["httpGet"]}
    return stored


def condition(isvc: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in isvc.get("status", {}).get("conditions", []) if c["type"] == kind), None)


def test_admission_changes_only_the_deployment_mode_of_the_operator_isvc(
    kserve_cluster: KServeCluster, namespace: str
) -> None:
    """KServe's mutating webhook runs on create: of what the operator sends it rewrites one annotation.

    RawDeployment is KServe 0.20's legacy name, stored as "Standard"; the spec (with its explicit
    limits and probes) is stored as sent, so the operator's spec hash still matches.
    """
    body = operator_isvc(namespace, "aapl")
    assert body["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"

    stored = create_isvc(kserve_cluster, body)

    expected_annotations = {**body["metadata"]["annotations"], "serving.kserve.io/deploymentMode": "Standard"}
    assert stored["metadata"]["annotations"] == expected_annotations
    assert stored["metadata"]["labels"] == body["metadata"]["labels"]
    assert stored["spec"] == body["spec"]


def test_admission_defaults_a_missing_cpu_limit_and_the_controller_then_fails(
    kserve_cluster: KServeCluster, namespace: str
) -> None:
    """Without a CPU limit KServe's defaulter adds the config map's (1 CPU): a 2-CPU request then makes
    the Deployment invalid, and the InferenceService reports it. This is why the operator sets limits."""
    body = operator_isvc(namespace, "big", serving={"resources": {"cpu": "2", "memory": "1Gi"}})
    del predictor_container(body)["resources"]["limits"]["cpu"]
    cpu_limit = kc.config_map_section(kserve_cluster.release, "inferenceService")["resource"]["cpuLimit"]
    assert cpu_limit == "1"

    stored = create_isvc(kserve_cluster, body)
    assert predictor_container(stored)["resources"] == {
        "requests": {"cpu": "2", "memory": "1Gi"},
        "limits": {"cpu": cpu_limit, "memory": "1Gi"},
    }

    def failed() -> dict[str, Any] | None:
        ready = condition(read_isvc(kserve_cluster, namespace, "big"), "PredictorReady")
        return ready if ready and ready.get("reason") == "ReconcileFailed" else None

    predictor_ready = wait_for("PredictorReady=ReconcileFailed on big", failed, kserve_cluster)
    assert predictor_ready["status"] == "False"
    assert "must be less than or equal to cpu limit of 1" in predictor_ready["message"]
    apps = k8s_client.AppsV1Api(kserve_cluster.api)
    assert (
        read_or_none(kserve_cluster, lambda: apps.read_namespaced_deployment("big-predictor", namespace))
        is None
    )


def test_controller_creates_deployment_service_and_hpa(kserve_cluster: KServeCluster, namespace: str) -> None:
    """The real controller turns the operator's InferenceService into `<name>-predictor` Deployment,
    Service and HorizontalPodAutoscaler, keeping the container (probes, resources, security) as sent."""
    body = operator_isvc(namespace, "aapl")
    create_isvc(kserve_cluster, body)
    apps = k8s_client.AppsV1Api(kserve_cluster.api)
    core = k8s_client.CoreV1Api(kserve_cluster.api)
    hpas = k8s_client.AutoscalingV2Api(kserve_cluster.api)

    def get(what: str, read: Callable[[], Any]) -> dict[str, Any]:
        return wait_for(what, lambda: read_or_none(kserve_cluster, read), kserve_cluster)

    deployment = get(
        "Deployment aapl-predictor", lambda: apps.read_namespaced_deployment("aapl-predictor", namespace)
    )
    service = get("Service aapl-predictor", lambda: core.read_namespaced_service("aapl-predictor", namespace))
    hpa = get(
        "HPA aapl-predictor",
        lambda: hpas.read_namespaced_horizontal_pod_autoscaler("aapl-predictor", namespace),
    )

    owner = deployment["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("InferenceService", "aapl", True)
    assert deployment["spec"]["replicas"] == 1
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    sent = predictor_container(body)
    assert container["name"] == "kserve-container" and container["image"] == sent["image"]
    # KServe appends the InferenceService's name to the container's env.
    assert container["env"] == [*sent["env"], {"name": "INFERENCE_SERVICE_NAME", "value": "aapl"}]
    assert container["resources"] == sent["resources"]
    # The declared HTTP probes are kept.
    assert container["readinessProbe"] == as_stored(sent["readinessProbe"])
    assert container["livenessProbe"] == as_stored(sent["livenessProbe"])
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["serving.kserve.io/inferenceservice"] == "aapl" and labels["app"] == "isvc.aapl-predictor"
    assert body["metadata"]["labels"].items() <= labels.items()

    assert service["spec"]["selector"] == {"app": "isvc.aapl-predictor"}
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(80, 8080)]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 1)
    assert hpa["spec"]["scaleTargetRef"]["name"] == "aapl-predictor"


def test_controller_adds_a_tcp_probe_when_none_is_declared(
    kserve_cluster: KServeCluster, namespace: str
) -> None:
    """With no readiness probe KServe's RawDeployment adds a TCP probe on the first container port,
    which is Ready as soon as the port listens (the stand-in adds none)."""
    body = operator_isvc(namespace, "bare")
    del predictor_container(body)["readinessProbe"]
    create_isvc(kserve_cluster, body)
    apps = k8s_client.AppsV1Api(kserve_cluster.api)

    deployment = wait_for(
        "Deployment bare-predictor",
        lambda: read_or_none(
            kserve_cluster, lambda: apps.read_namespaced_deployment("bare-predictor", namespace)
        ),
        kserve_cluster,
    )
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"] == {
        "tcpSocket": {"port": 8080},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert container["livenessProbe"] == as_stored(predictor_container(body)["livenessProbe"])


def test_status_has_conditions_but_no_observed_generation(
    kserve_cluster: KServeCluster, namespace: str
) -> None:
    """KServe reports conditions (not Ready: no pods run here) and never sets status.observedGeneration."""
    create_isvc(kserve_cluster, operator_isvc(namespace, "aapl"))

    def with_conditions() -> dict[str, Any] | None:
        isvc = read_isvc(kserve_cluster, namespace, "aapl")
        return isvc if condition(isvc, "Ready") and condition(isvc, "PredictorReady") else None

    isvc = wait_for("status.conditions on InferenceService aapl", with_conditions, kserve_cluster)
    status = isvc["status"]
    assert {c["type"] for c in status["conditions"]} >= {"IngressReady", "PredictorReady", "Ready"}
    assert condition(isvc, "Ready")["status"] == "False"  # type: ignore[index]
    assert condition(isvc, "PredictorReady")["status"] == "False"  # type: ignore[index]
    assert status["deploymentMode"] == "Standard"
    assert "observedGeneration" not in status
    assert isvc["metadata"]["generation"] == 1


def test_validation_refuses_a_name_the_api_server_accepts(
    kserve_cluster: KServeCluster, namespace: str
) -> None:
    """KServe's validator wants a DNS-1035 name (leading letter); the CRD alone would store `7203-t`."""
    body = operator_isvc(namespace, "7203-t")
    with pytest.raises(k8s_client.ApiException) as refused:
        create_isvc(kserve_cluster, body)
    assert refused.value.status == 403
    message = json.loads(refused.value.body)["message"]
    assert message.startswith(
        'admission webhook "inferenceservice.kserve-webhook-server.validator" denied the request: '
        'the InferenceService "7203-t" is invalid'
    )
    assert "must start with alphabetical character" in message
