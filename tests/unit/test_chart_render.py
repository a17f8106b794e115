"""The Helm chart, rendered for real by the pinned helm (scripts/build-testenv.sh helm).

`helm lint --strict` and `helm template` with default and non-default values; the rendered objects are
checked against what the rest of the system expects: the operator's own RBAC rules, an environment
that `OperatorSettings` reads back to the intended values, probes on the ports the arguments open, a
locked-down security context, and values.schema.json rejecting bad values with a message naming them.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stockops.devcluster import DevClusterError, build_tool
from stockops.operator.rbac import OPERATOR_RULES
from stockops.operator.settings import OperatorSettings

RELEASE, NAMESPACE = "stockops", "stockops-system"
Objects = list[dict[str, Any]]


@pytest.fixture(scope="module")
def helm(repo_root: Path) -> Path:
    """The pinned helm (scripts/build-testenv.sh helm, or $STOCKOPS_HELM); built on first use, then cached."""
    try:
        return build_tool(repo_root, "helm")
    except DevClusterError as exc:
        pytest.fail(f"no helm to render the chart with: {exc}")


@pytest.fixture(scope="module")
def chart(repo_root: Path) -> Path:
    return repo_root / "charts" / "stockops"


def _helm(
    helm: Path, *args: str, values: dict[str, Any] | None = None, tmp: Path
) -> subprocess.CompletedProcess:
    command = [str(helm), *args]
    if values is not None:
        path = tmp / "values.yaml"
        path.write_text(yaml.safe_dump(values))
        command += ["-f", str(path)]
    # helm must not find a cluster or the user's repositories: rendering is offline.
    env = {**os.environ, "HELM_CACHE_HOME": str(tmp / "cache"), "HELM_CONFIG_HOME": str(tmp / "config")}
    env["HELM_DATA_HOME"] = str(tmp / "data")
    env.pop("KUBECONFIG", None)
    return subprocess.run(command, capture_output=True, text=True, check=False, env=env)


@pytest.fixture(scope="module")
def render(helm: Path, chart: Path, tmp_path_factory: pytest.TempPathFactory):
    """render(values) -> the rendered objects; fails the test with helm's message if it does not render."""

    def _render(values: dict[str, Any] | None = None, *extra: str) -> Objects:
        tmp = tmp_path_factory.mktemp("helm")
        done = _helm(helm, "template", RELEASE, str(chart), "-n", NAMESPACE, *extra, values=values, tmp=tmp)
        assert done.returncode == 0, f"helm template failed:\n{done.stderr}"
        return [d for d in yaml.safe_load_all(done.stdout) if d]

    return _render


@pytest.fixture(scope="module")
def default_objects(render) -> Objects:
    return render()


def _one(objects: Objects, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    found = [
        o
        for o in objects
        if o["kind"] == kind
        and o["metadata"]["name"] == name
        and (namespace is None or o["metadata"].get("namespace") == namespace)
    ]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def _names(objects: Objects) -> set[tuple[str, str]]:
    return {(o["kind"], o["metadata"]["name"]) for o in objects}


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _env(deployment: dict[str, Any]) -> dict[str, str]:
    env = _container(deployment)["env"]
    names = [e["name"] for e in env]
    assert len(names) == len(set(names)), f"duplicate env vars: {names}"
    return {e["name"]: e["value"] for e in env}


@pytest.fixture
def settings_from(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """settings_from(env) -> OperatorSettings read from exactly that environment, as the pod would."""

    def _read(env: dict[str, str]) -> OperatorSettings:
        for name in list(os.environ):
            if name.startswith(("STOCKOPS_", "MLFLOW_")):
                monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return OperatorSettings()

    yield _read


def _triples(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


# ---------------------------------------------------------------------------------------------------
# lint and the default install


NON_DEFAULT: dict[str, Any] = {
    "image": {"registry": "ghcr.io/acme", "tag": "e2e", "pullPolicy": "Always", "pullSecrets": ["regcred"]},
    "dataSource": "csv:/data/ohlcv",
    "operator": {"watchNamespaces": ["team-a", "team-b"], "verbose": True, "image": {"tag": "op-1"}},
    "metrics": {"port": 9191, "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
    "training": {
        "backoffLimit": 4,
        "activeDeadlineSeconds": 3600,
        "ttlSecondsAfterFinished": 600,
        "cpu": "2",
        "memory": "4Gi",
        "gpuNodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-l4"},
        "serviceAccountName": "trainer",
    },
    "predictor": {
        "cpu": "250m",
        "memory": "768Mi",
        "kserveDeploymentMode": "Serverless",
        "serviceAccountName": "predictor",
    },
    "workloadEnv": {"STOCKOPS_TORCH_THREADS": "2"},
    "workloadSecrets": ["mlflow-auth", "s3-artifacts"],
    "mlflow": {
        "enabled": False,
        "trackingUri": "https://mlflow.example.com",
        "uiUri": "https://ui.example.com",
    },
    "redis": {"enabled": False, "url": "redis://cache.example.com:6380/1"},
    "agent": {"image": {"tag": "ag-1"}},
    "qdrant": {"enabled": False, "url": "https://qdrant.example.com:6333"},
}


@pytest.mark.parametrize("values", [None, NON_DEFAULT], ids=["defaults", "non-default"])
def test_chart_passes_strict_lint(helm: Path, chart: Path, tmp_path: Path, values: dict | None) -> None:
    linted = _helm(helm, "lint", "--strict", str(chart), values=values, tmp=tmp_path)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_default_install_is_operator_rbac_mlflow_and_redis(default_objects: Objects) -> None:
    assert _names(default_objects) == {
        ("ServiceAccount", "stockops-operator"),
        ("ClusterRole", "stockops-operator"),
        ("ClusterRoleBinding", "stockops-operator"),
        ("Deployment", "stockops-operator"),
        ("Service", "stockops-operator-metrics"),
        ("Deployment", "stockops-mlflow"),
        ("Service", "stockops-mlflow"),
        ("PersistentVolumeClaim", "stockops-mlflow"),
        ("Deployment", "stockops-redis"),
        ("Service", "stockops-redis"),
    }
    for obj in default_objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/part-of"] == "stockops"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        if obj["kind"] not in {"ClusterRole", "ClusterRoleBinding"}:
            assert obj["metadata"]["namespace"] == NAMESPACE


def test_services_select_their_deployments_pods(default_objects: Objects) -> None:
    for name, port_name in [
        ("stockops-operator-metrics", "metrics"),
        ("stockops-mlflow", "http"),
        ("stockops-redis", "redis"),
    ]:
        service = _one(default_objects, "Service", name)
        selected = [
            d
            for d in default_objects
            if d["kind"] == "Deployment"
            and service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(selected) == 1, f"{name} selects {len(selected)} deployments"
        (port,) = service["spec"]["ports"]
        assert port["targetPort"] == port_name
        assert port_name in {p["name"] for p in _container(selected[0])["ports"]}


# ---------------------------------------------------------------------------------------------------
# RBAC: exactly the operator's rules


def test_cluster_role_has_exactly_the_operators_rules(default_objects: Objects) -> None:
    role = _one(default_objects, "ClusterRole", "stockops-operator")
    assert role["rules"] == [dict(rule) for rule in OPERATOR_RULES]
    binding = _one(default_objects, "ClusterRoleBinding", "stockops-operator")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "stockops-operator",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "stockops-operator", "namespace": NAMESPACE}
    ]
    deployment = _one(default_objects, "Deployment", "stockops-operator")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "stockops-operator"


def test_watched_namespaces_get_roles_and_only_cluster_reads_stay_cluster_wide(render) -> None:
    objects = render({"operator": {"watchNamespaces": ["team-a", "team-b"]}})
    cluster_role = _one(objects, "ClusterRole", "stockops-operator")
    assert {r for _, r, _ in _triples(cluster_role["rules"])} == {"customresourcedefinitions", "namespaces"}
    for namespace in ("team-a", "team-b"):
        role = _one(objects, "Role", "stockops-operator", namespace)
        assert _triples(role["rules"]) | _triples(cluster_role["rules"]) == _triples(list(OPERATOR_RULES))
        assert not _triples(role["rules"]) & _triples(cluster_role["rules"])
        binding = _one(objects, "RoleBinding", "stockops-operator", namespace)
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["subjects"][0]["namespace"] == NAMESPACE
    args = _container(_one(objects, "Deployment", "stockops-operator"))["args"]
    assert [a for a in args if a.startswith("--namespace")] == ["--namespace=team-a", "--namespace=team-b"]


def test_rbac_can_be_left_to_the_user(render) -> None:
    objects = render({"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "ops-sa"}})
    assert not {k for k, _ in _names(objects)} & {
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "ServiceAccount",
    }
    deployment = _one(objects, "Deployment", "stockops-operator")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "ops-sa"


# ---------------------------------------------------------------------------------------------------
# the operator Deployment: environment, arguments, probes


def test_default_env_points_the_operator_at_the_in_chart_services(
    default_objects: Objects, settings_from
) -> None:
    env = _env(_one(default_objects, "Deployment", "stockops-operator"))
    settings = settings_from(env)
    assert settings.mlflow_tracking_uri == "http://stockops-mlflow.stockops-system.svc:5000"
    assert settings.data_source == "yfinance"  # not auto: no silent synthetic fallback in a cluster
    assert settings.trainer_image == "docker.io/stockops/trainer:0.1.0"
    assert settings.predictor_image == "docker.io/stockops/predictor:0.1.0"
    assert settings.agent_image == "docker.io/stockops/agent:0.1.0"
    # No Qdrant by default: agent Jobs run without the semantic cache and each Analysis says so.
    assert "STOCKOPS_OPERATOR_QDRANT_URL" not in env and settings.qdrant_url is None
    redis = "redis://stockops-redis.stockops-system.svc:6379/0"
    assert env["STOCKOPS_REDIS_URL"] == redis
    assert settings.extra_env == {"STOCKOPS_REDIS_URL": redis}  # reaches every Job and predictor


def test_chart_defaults_keep_the_operators_own_defaults(default_objects: Objects, settings_from) -> None:
    """The chart states the operator's defaults explicitly; it must not silently change them."""
    from_chart = settings_from(_env(_one(default_objects, "Deployment", "stockops-operator")))
    built_in = settings_from({})
    # except data_source on purpose: the chart's is yfinance, the bare operator's (dev cluster) auto
    assert (from_chart.data_source, built_in.data_source) == ("yfinance", "auto")
    for field in (
        "image_pull_policy",
        "job_backoff_limit",
        "job_active_deadline_seconds",
        "job_ttl_seconds",
        "default_cpu",
        "default_memory",
        "predictor_cpu",
        "predictor_memory",
        "gpu_node_selector",
        "kserve_deployment_mode",
        "service_account",
        "mlflow_ui_uri",
    ):
        assert getattr(from_chart, field) == getattr(built_in, field), field


def test_non_default_values_reach_the_operator(render, settings_from) -> None:
    objects = render(NON_DEFAULT)
    assert not {n for _, n in _names(objects)} & {"stockops-mlflow", "stockops-redis"}
    deployment = _one(objects, "Deployment", "stockops-operator")
    container = _container(deployment)
    assert container["image"] == "ghcr.io/acme/stockops/operator:op-1"
    assert container["imagePullPolicy"] == "Always"
    assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert "--verbose" in container["args"] and "--metrics-port=9191" in container["args"]
    settings = settings_from(_env(deployment))
    assert settings.mlflow_tracking_uri == "https://mlflow.example.com"
    assert settings.ui_uri == "https://ui.example.com"
    assert settings.data_source == "csv:/data/ohlcv"
    assert settings.trainer_image == "ghcr.io/acme/stockops/trainer:e2e"
    assert settings.predictor_image == "ghcr.io/acme/stockops/predictor:e2e"
    assert settings.agent_image == "ghcr.io/acme/stockops/agent:ag-1"
    assert settings.qdrant_url == "https://qdrant.example.com:6333"
    assert settings.image_pull_policy == "Always"
    assert (settings.job_backoff_limit, settings.job_active_deadline_seconds, settings.job_ttl_seconds) == (
        4,
        3600,
        600,
    )
    assert (settings.default_cpu, settings.default_memory) == ("2", "4Gi")
    assert (settings.predictor_cpu, settings.predictor_memory) == ("250m", "768Mi")
    assert settings.gpu_node_selector == {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    assert settings.service_account == "trainer"
    assert settings.predictor_service_account == "predictor"
    assert settings.image_pull_secrets == ["regcred"]  # reach every Job and predictor
    assert settings.credentials_secrets == ["mlflow-auth", "s3-artifacts"]  # envFrom, never literal env
    assert settings.kserve_deployment_mode == "Serverless"
    assert settings.extra_env == {
        "STOCKOPS_TORCH_THREADS": "2",
        "STOCKOPS_REDIS_URL": "redis://cache.example.com:6380/1",
    }
    monitor = _one(objects, "ServiceMonitor", "stockops-operator")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    service = _one(objects, "Service", "stockops-operator-metrics")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["port"] == 9191


def test_kind_script_flags_set_the_tag_of_all_three_images(render, settings_from) -> None:
    """tests/e2e/kind/run.sh installs with `--set image.tag=e2e --set image.pullPolicy=IfNotPresent`."""
    objects = render(None, "--set", "image.tag=e2e", "--set", "image.pullPolicy=IfNotPresent")
    deployment = _one(objects, "Deployment", "stockops-operator")
    # docker.io/stockops/operator:e2e is the name `kind load` gives the locally built stockops/operator:e2e
    assert _container(deployment)["image"] == "docker.io/stockops/operator:e2e"
    settings = settings_from(_env(deployment))
    assert (settings.trainer_image, settings.predictor_image, settings.agent_image) == (
        "docker.io/stockops/trainer:e2e",
        "docker.io/stockops/predictor:e2e",
        "docker.io/stockops/agent:e2e",
    )


@pytest.mark.parametrize(
    ("gpu_node_selector", "expected"),
    [
        (None, {}),  # no selector unless asked: the GPU request and toleration place the pod
        ({}, {}),
        (
            {"karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia"},
            {"karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia"},
        ),
    ],
    ids=["default", "none", "custom"],
)
def test_gpu_node_selector_reaches_the_operator(render, settings_from, gpu_node_selector, expected) -> None:
    values = None if gpu_node_selector is None else {"training": {"gpuNodeSelector": gpu_node_selector}}
    deployment = _one(render(values), "Deployment", "stockops-operator")
    assert settings_from(_env(deployment)).gpu_node_selector == expected
    # The operator itself never asks for a GPU, whatever the training pods get.
    resources = _container(deployment)["resources"]
    assert not any("gpu" in key for block in resources.values() for key in block)


def test_liveness_probe_calls_kopfs_endpoint_on_the_port_the_operator_opens(default_objects: Objects) -> None:
    deployment = _one(default_objects, "Deployment", "stockops-operator")
    container = _container(deployment)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert "--liveness=http://0.0.0.0:8080/healthz" in container["args"]
    assert f"--metrics-port={ports['metrics']}" in container["args"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert ports["health"] == 8080
    # Kopf runs standalone: never two operators at once, not even during a rollout.
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_operator_rolls_when_its_rbac_changes(render, chart: Path, tmp_path: Path, helm: Path) -> None:
    copy = tmp_path / "stockops"
    subprocess.run(["cp", "-r", str(chart), str(copy)], check=True)
    rbac = copy / "files" / "operator-rbac.yaml"
    rbac.write_text(rbac.read_text().replace("- watch\n", "- watch\n  - deletecollection\n", 1))
    done = _helm(helm, "template", RELEASE, str(copy), "-n", NAMESPACE, tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    changed = [d for d in yaml.safe_load_all(done.stdout) if d]

    def checksum(objects: Objects) -> str:
        template = _one(objects, "Deployment", "stockops-operator")["spec"]["template"]
        return template["metadata"]["annotations"]["checksum/rbac"]

    assert checksum(changed) != checksum(render())
    role = _one(changed, "ClusterRole", "stockops-operator")
    assert ("stockops.io", "parentmodels", "deletecollection") in _triples(role["rules"])


# ---------------------------------------------------------------------------------------------------
# MLflow and Redis


def test_mlflow_serves_artifacts_from_its_volume_and_accepts_its_service_names(
    default_objects: Objects,
) -> None:
    deployment = _one(default_objects, "Deployment", "stockops-mlflow")
    command = _container(deployment)["command"]
    assert command[:2] == ["mlflow", "server"]
    assert "--backend-store-uri=sqlite:////mlflow/mlflow.db" in command
    assert "--serve-artifacts" in command and "--artifacts-destination=/mlflow/artifacts" in command
    hosts = next(a for a in command if a.startswith("--allowed-hosts=")).split("=", 1)[1].split(",")
    assert "stockops-mlflow.stockops-system.svc*" in hosts and "localhost:*" in hosts
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "stockops-mlflow"
    assert {"name": "data", "mountPath": "/mlflow"} in _container(deployment)["volumeMounts"]
    claim = _one(default_objects, "PersistentVolumeClaim", "stockops-mlflow")
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # SQLite on a ReadWriteOnce volume
    for probe in ("readinessProbe", "livenessProbe"):
        assert _container(deployment)[probe]["httpGet"] == {"path": "/health", "port": "http"}


@pytest.mark.parametrize(
    ("persistence", "claim"),
    [({"existingClaim": "registry-data"}, "registry-data"), ({"enabled": False}, None)],
    ids=["existing-claim", "ephemeral"],
)
def test_mlflow_volume_options(render, persistence: dict, claim: str | None) -> None:
    objects = render({"mlflow": {"persistence": persistence}})
    assert ("PersistentVolumeClaim", "stockops-mlflow") not in _names(objects)
    volumes = {
        v["name"]: v
        for v in _one(objects, "Deployment", "stockops-mlflow")["spec"]["template"]["spec"]["volumes"]
    }
    if claim:
        assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim
    else:
        assert volumes["data"] == {"name": "data", "emptyDir": {}}


def test_redis_persistence_turns_on_the_append_only_file(default_objects: Objects, render) -> None:
    ephemeral = _container(_one(default_objects, "Deployment", "stockops-redis"))
    assert ephemeral["command"][ephemeral["command"].index("--appendonly") + 1] == "no"
    assert ephemeral["command"][ephemeral["command"].index("--maxmemory-policy") + 1] == "volatile-lru"
    objects = render({"redis": {"persistence": {"enabled": True}}})
    durable = _container(_one(objects, "Deployment", "stockops-redis"))
    assert durable["command"][durable["command"].index("--appendonly") + 1] == "yes"
    assert (
        _one(objects, "PersistentVolumeClaim", "stockops-redis")["spec"]["resources"]["requests"]["storage"]
        == "2Gi"
    )


# ---------------------------------------------------------------------------------------------------
# security


@pytest.fixture(scope="module")
def qdrant_objects(render) -> Objects:
    return render({"qdrant": {"enabled": True}})


def test_in_chart_qdrant_is_what_the_agents_cache_uses(qdrant_objects: Objects, settings_from) -> None:
    names = _names(qdrant_objects)
    assert {
        ("Deployment", "stockops-qdrant"),
        ("Service", "stockops-qdrant"),
        ("PersistentVolumeClaim", "stockops-qdrant"),
    } <= names
    operator = _one(qdrant_objects, "Deployment", "stockops-operator")
    url = settings_from(_env(operator)).qdrant_url
    assert url == "http://stockops-qdrant.stockops-system.svc:6333"
    service = _one(qdrant_objects, "Service", "stockops-qdrant")
    deployment = _one(qdrant_objects, "Deployment", "stockops-qdrant")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["port"] == int(url.rsplit(":", 1)[1])
    container = _container(deployment)
    assert container["image"].endswith("-unprivileged")  # the root image cannot run restricted
    env = _env(deployment)
    # Every path Qdrant writes is a mount: the read-only root holds none of them.
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {env["QDRANT__STORAGE__STORAGE_PATH"], env["QDRANT__STORAGE__SNAPSHOTS_PATH"]} <= mounts
    assert env["QDRANT_INIT_FILE_PATH"].rsplit("/", 1)[0] in mounts
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # one process owns the storage
    probes = (container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"])
    assert {p["path"] for p in probes} == {"/readyz", "/livez"}


def test_qdrant_without_a_claim_keeps_reports_in_an_empty_dir(render) -> None:
    objects = render({"qdrant": {"enabled": True, "persistence": {"enabled": False}}})
    assert ("PersistentVolumeClaim", "stockops-qdrant") not in _names(objects)
    volumes = _one(objects, "Deployment", "stockops-qdrant")["spec"]["template"]["spec"]["volumes"]
    assert next(v for v in volumes if v["name"] == "storage") == {"name": "storage", "emptyDir": {}}


@pytest.mark.parametrize("with_qdrant", [False, True], ids=["defaults", "qdrant"])
def test_every_pod_runs_non_root_with_a_read_only_root_and_no_capabilities(
    default_objects: Objects, qdrant_objects: Objects, with_qdrant: bool
) -> None:
    objects = qdrant_objects if with_qdrant else default_objects
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    assert len(deployments) == (4 if with_qdrant else 3)
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        name = deployment["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] > 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert "memory" in container["resources"]["limits"], name
            assert container["resources"]["requests"], name
            # A read-only root needs somewhere to write: every mount is an emptyDir or the data claim.
            mounted = {m["name"] for m in container.get("volumeMounts", [])}
            assert mounted, name
        if name != "stockops-operator":  # only the operator talks to the API server
            assert pod["automountServiceAccountToken"] is False, name


def test_mlflow_and_redis_run_as_their_images_users(default_objects: Objects) -> None:
    users = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
        for d in default_objects
        if d["kind"] == "Deployment"
    }
    assert users == {"stockops-operator": 10001, "stockops-mlflow": 10001, "stockops-redis": 999}


def test_qdrant_runs_as_its_images_user(qdrant_objects: Objects) -> None:
    pod = _one(qdrant_objects, "Deployment", "stockops-qdrant")["spec"]["template"]["spec"]
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["fsGroup"]) == (1000, 1000)


# ---------------------------------------------------------------------------------------------------
# CRDs


def test_helm_installs_the_generated_crds(render, repo_root: Path) -> None:
    crds = [o for o in render(None, "--include-crds") if o["kind"] == "CustomResourceDefinition"]
    expected = [yaml.safe_load(p.read_text()) for p in sorted((repo_root / "crds").glob("*.yaml"))]
    assert sorted(crds, key=lambda c: c["metadata"]["name"]) == sorted(
        expected, key=lambda c: c["metadata"]["name"]
    )
    assert {c["spec"]["names"]["shortNames"][0] for c in crds} == {"pm", "tkm", "an"}


# ---------------------------------------------------------------------------------------------------
# values.schema.json


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"operatr": {"verbose": True}}, "additional properties 'operatr' not allowed"),
        ({"operator": {"watchNamespaces": ["Team_A"]}}, "/operator/watchNamespaces/0"),
        ({"metrics": {"port": 70000}}, "/metrics/port"),
        ({"dataSource": "s3://bucket/prices"}, "/dataSource"),
        ({"training": {"cpu": "lots"}}, "/training/cpu"),
        ({"training": {"backoffLimit": -1}}, "/training/backoffLimit"),
        ({"training": {"gpuNodeSelector": {"nvidia.com/gpu.present": True}}}, "/training/gpuNodeSelector"),
        ({"mlflow": {"enabled": False}}, "/mlflow/trackingUri"),
        ({"mlflow": {"trackingUri": "sqlite:///mlflow.db"}}, "/mlflow/trackingUri"),
        ({"redis": {"enabled": False, "url": "cache:6379"}}, "/redis/url"),
        ({"redis": {"enabled": False, "url": "redis://:hunter2@cache:6379/0"}}, "/redis/url"),
        ({"workloadSecrets": ["Not_A_Name"]}, "/workloadSecrets/0"),
        ({"qdrant": {"url": "https://key@qdrant.example.com"}}, "/qdrant/url"),
        ({"qdrant": {"url": "qdrant:6333"}}, "/qdrant/url"),
        ({"agent": {"image": {"repository": "Stockops/Agent"}}}, "/agent/image/repository"),
        ({"gateway": {"corsOrigins": ["*"]}}, "/gateway/corsOrigins/0"),
        ({"gateway": {"parentTicker": "not a ticker"}}, "/gateway/parentTicker"),
        ({"gateway": {"apiKeys": {"existingSecret": "Keys_Secret"}}}, "/gateway/apiKeys/existingSecret"),
        ({"gateway": {"rateLimit": {"requests": 0}}}, "/gateway/rateLimit/requests"),
        # helm names the wrong parent for propertyNames errors, so match the property itself
        ({"workloadEnv": {"BAD-NAME": "x"}}, "invalid propertyName 'BAD-NAME'"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_schema_rejects_invalid_values(
    helm: Path, chart: Path, tmp_path: Path, values: dict, message: str
) -> None:
    done = _helm(helm, "template", RELEASE, str(chart), values=values, tmp=tmp_path)
    assert done.returncode != 0, f"accepted invalid values {values}"
    assert "values don't meet the specifications of the schema" in done.stderr
    assert message in done.stderr, done.stderr


# ---------------------------------------------------------------------------------------------------
# the gateway (off by default)

GATEWAY = {"gateway": {"enabled": True, "apiKeys": {"existingSecret": "stockops-gateway-keys"}}}


def _gateway_settings(deployment: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """GatewaySettings read from exactly the pod's environment, as the gateway process would."""
    from stockops.gateway.settings import GatewaySettings

    for name in list(os.environ):
        if name.startswith(("STOCKOPS_", "MLFLOW_")):
            monkeypatch.delenv(name)
    for name, value in _env(deployment).items():
        monkeypatch.setenv(name, value)
    return GatewaySettings()


def test_the_gateway_needs_a_keys_secret(helm: Path, chart: Path, tmp_path: Path) -> None:
    done = _helm(helm, "template", RELEASE, str(chart), values={"gateway": {"enabled": True}}, tmp=tmp_path)
    assert done.returncode != 0 and "gateway.apiKeys.existingSecret is required" in done.stderr


def test_the_gateway_runs_in_cluster_mode_with_only_its_rules(
    render, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockops.gateway.rbac import gateway_rules

    objects = render(GATEWAY)
    assert {
        ("ServiceAccount", "stockops-gateway"),
        ("Role", "stockops-gateway"),
        ("RoleBinding", "stockops-gateway"),
        ("Service", "stockops-gateway"),
        ("Deployment", "stockops-gateway"),
    } <= _names(objects)
    role = _one(objects, "Role", "stockops-gateway")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert _triples(role["rules"]) == _triples(gateway_rules(reset_enabled=False))
    binding = _one(objects, "RoleBinding", "stockops-gateway")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "stockops-gateway", "namespace": NAMESPACE}
    ]
    deployment = _one(objects, "Deployment", "stockops-gateway")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "stockops-gateway"
    container = _container(deployment)
    assert container["image"] == "docker.io/stockops/gateway:0.1.0"
    settings = _gateway_settings(deployment, monkeypatch)
    assert (settings.mode, settings.host, settings.namespace) == ("cluster", "0.0.0.0", NAMESPACE)
    assert settings.allows_reset is False and settings.cors_origins == []
    assert settings.redis_url == "redis://stockops-redis.stockops-system.svc:6379/0"  # shared rate limits
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    keys = next(v for v in pod["volumes"] if v["name"] == "keys")
    assert keys["secret"]["secretName"] == "stockops-gateway-keys"
    assert str(settings.keys_file).startswith(mounts["keys"]["mountPath"] + "/")
    assert mounts["keys"]["readOnly"] is True
    assert settings.keys_file is not None and settings.keys_file.name == keys["secret"]["items"][0]["path"]
    for probe in (container["readinessProbe"], container["livenessProbe"]):
        assert probe["httpGet"] == {"path": "/health", "port": "http"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": settings.port}
    service = _one(objects, "Service", "stockops-gateway")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsUser"] == 1000  # images/gateway/Dockerfile's USER


def test_gateway_values_reach_it(render, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from stockops.gateway.rbac import gateway_rules
    from stockops.gateway.template import load_template

    values = {
        "gateway": {
            **GATEWAY["gateway"],
            "namespace": "models",
            "reset": {"enabled": True},
            "corsOrigins": ["https://console.example.com"],
            "rateLimit": {"requests": 30, "windowSeconds": 10},
            "parentTicker": "SPY",
            "tickerTemplate": {
                "transfer": {"strategy": "freeze", "epochs": 3},
                "data": {"start": "2015-01-01"},
            },
        }
    }
    objects = render(values)
    role = _one(objects, "Role", "stockops-gateway")
    assert role["metadata"]["namespace"] == "models"  # the Role lives where the resources are
    assert _triples(role["rules"]) == _triples(gateway_rules(reset_enabled=True))
    deployment = _one(objects, "Deployment", "stockops-gateway")
    settings = _gateway_settings(deployment, monkeypatch)
    assert (settings.namespace, settings.allows_reset, settings.cors_origins) == (
        "models",
        True,
        ["https://console.example.com"],
    )
    assert (settings.rate_limit_requests, settings.rate_limit_window_seconds, settings.parent_ticker) == (
        30,
        10.0,
        "SPY",
    )
    config_map = _one(objects, "ConfigMap", "stockops-gateway-templates")
    mount = next(m for m in _container(deployment)["volumeMounts"] if m["name"] == "templates")
    assert settings.ticker_template is not None
    assert str(settings.ticker_template.parent) == mount["mountPath"]
    text = config_map["data"][settings.ticker_template.name]
    path = tmp_path / settings.ticker_template.name
    path.write_text(text)
    template = load_template(path, "TickerModel")  # what the gateway checks at start
    assert template["spec"]["transfer"] == {"strategy": "freeze", "epochs": 3}
