"""Pure builders: spec -> Job / InferenceService manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockops.crd.parent_model import ParentModelSpec
from stockops.crd.ticker_model import TickerModelSpec
from stockops.operator.builders import (
    Owner,
    ParentVersion,
    build_inference_service,
    build_training_job,
    data_source,
)
from stockops.operator.naming import (
    LABEL_MANAGED_BY,
    LABEL_OWNER_UID,
    inference_service_name,
    job_name,
    label_value,
)
from stockops.operator.settings import OperatorSettings

SETTINGS = OperatorSettings(
    mlflow_tracking_uri="http://mlflow:5000",
    data_source="csv:/data",
    extra_env={"STOCKOPS_REDIS_URL": "redis://r"},
)
PARENT = Owner("ParentModel", "gspc", "ml", "uid-parent", 3)
CHILD = Owner("TickerModel", "aapl", "ml", "uid-child", 1)
PARENT_V2 = ParentVersion(name="gspc", ticker="^GSPC", model_name="stockops-gspc", model_version="2")


def _env(container: dict) -> dict[str, str]:
    """Literal env values; a downward-API entry shows as `fieldRef:<path>`."""
    return {
        e["name"]: e["value"] if "value" in e else f"fieldRef:{e['valueFrom']['fieldRef']['fieldPath']}"
        for e in container["env"]
    }


def test_parent_job_runs_the_trainer_with_the_spec_as_config() -> None:
    spec = ParentModelSpec.model_validate({"ticker": "^GSPC", "training": {"epochs": 3}})
    job = build_training_job(PARENT, spec, SETTINGS, job_name="gspc-g3-abc")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "docker.io/stockops/trainer:0.1.0"
    assert container["args"] == ["--kind", "parent", "--ticker", "^GSPC"]
    env = _env(container)
    assert json.loads(env["STOCKOPS_TRAINER_CONFIG"]) == {"ticker": "^GSPC", "training": {"epochs": 3}}
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["STOCKOPS_DATA_SOURCE"] == "csv:/data"
    assert env["STOCKOPS_JOB_NAME"] == "gspc-g3-abc"
    assert env["STOCKOPS_RESOURCE"] == "ParentModel/ml/gspc"
    assert env["STOCKOPS_REDIS_URL"] == "redis://r"


def test_child_job_pins_the_parent_version_and_strategy() -> None:
    spec = TickerModelSpec.model_validate(
        {
            "ticker": "AAPL",
            "parentRef": {"name": "gspc"},
            "transfer": {"strategy": "freeze"},
            "promotion": {"minSkill": -0.1},
        }
    )
    job = build_training_job(CHILD, spec, SETTINGS, job_name="aapl-g1-p2-x", parent=PARENT_V2, trigger="p2")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert " ".join(container["args"]) == (
        "--kind child --ticker AAPL --parent ^GSPC --parent-version 2 --strategy freeze"
    )
    env = _env(container)
    assert json.loads(env["STOCKOPS_TRAINER_CONFIG"])["parentVersion"] == "2"
    assert env["STOCKOPS_PROMOTION_MIN_SKILL"] == "-0.1"
    assert job["metadata"]["annotations"]["stockops.io/parent-version"] == "2"


def test_job_carries_owner_reference_and_labels() -> None:
    job = build_training_job(PARENT, ParentModelSpec(), SETTINGS, job_name="n")
    (ref,) = job["metadata"]["ownerReferences"]
    assert ref == {
        "apiVersion": "stockops.io/v1alpha1",
        "kind": "ParentModel",
        "name": "gspc",
        "uid": "uid-parent",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    labels = job["metadata"]["labels"]
    assert labels[LABEL_MANAGED_BY] == "stockops-operator"
    assert labels[LABEL_OWNER_UID] == "uid-parent"
    assert labels["app.kubernetes.io/part-of"] == "stockops"
    assert labels["stockops.io/generation"] == "3"
    assert labels["stockops.io/instance"] == "gspc"
    # Argo CD tracks its Applications' objects by app.kubernetes.io/instance: ours must not claim to be one
    assert "app.kubernetes.io/instance" not in labels
    assert job["spec"]["template"]["metadata"]["labels"] == labels


def test_job_limits_retries_deadline_ttl_and_fails_fast_on_bad_data() -> None:
    spec = ParentModelSpec.model_validate({"training": {"backoffLimit": 0, "activeDeadlineSeconds": 600}})
    job_spec = build_training_job(PARENT, spec, SETTINGS, job_name="n")["spec"]
    assert job_spec["backoffLimit"] == 0
    assert job_spec["activeDeadlineSeconds"] == 600
    assert job_spec["ttlSecondsAfterFinished"] == SETTINGS.job_ttl_seconds
    assert job_spec["template"]["spec"]["restartPolicy"] == "Never"
    fail_job = job_spec["podFailurePolicy"]["rules"][0]
    assert fail_job["action"] == "FailJob" and fail_job["onExitCodes"]["values"] == [2]
    defaults = build_training_job(PARENT, ParentModelSpec(), SETTINGS, job_name="n")["spec"]
    assert defaults["backoffLimit"] == SETTINGS.job_backoff_limit
    assert defaults["activeDeadlineSeconds"] == SETTINGS.job_active_deadline_seconds


def test_gpu_request_adds_limits_toleration_and_node_selector() -> None:
    spec = ParentModelSpec.model_validate(
        {
            "resources": {"gpu": 2, "memory": "8Gi"},
            "scheduling": {
                "nodeSelector": {"pool": "train"},
                "tolerations": [{"key": "spot", "operator": "Exists"}],
            },
        }
    )
    pod = build_training_job(PARENT, spec, SETTINGS, job_name="n")["spec"]["template"]["spec"]
    resources = pod["containers"][0]["resources"]
    assert resources["limits"] == {"memory": "8Gi", "nvidia.com/gpu": "2"}
    assert resources["requests"]["nvidia.com/gpu"] == "2"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert {"key": "spot", "operator": "Exists"} in pod["tolerations"]
    assert pod["nodeSelector"] == {"pool": "train"}  # the default adds no GPU label selector
    labelled = SETTINGS.model_copy(update={"gpu_node_selector": {"nvidia.com/gpu.present": "true"}})
    pod = build_training_job(PARENT, spec, labelled, job_name="n")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true", "pool": "train"}


def test_cpu_only_job_has_no_gpu_anything() -> None:
    pod = build_training_job(PARENT, ParentModelSpec(), SETTINGS, job_name="n")["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in json.dumps(pod)
    assert "tolerations" not in pod and "nodeSelector" not in pod
    assert pod["containers"][0]["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}


def test_suspend_and_image_overrides_reach_the_job() -> None:
    spec = ParentModelSpec.model_validate(
        {"suspend": True, "image": {"trainer": "reg/t:1", "pullPolicy": "Always"}}
    )
    job = build_training_job(PARENT, spec, SETTINGS, job_name="n")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert job["spec"]["suspend"] is True
    assert (container["image"], container["imagePullPolicy"]) == ("reg/t:1", "Always")


def test_data_source_from_spec_or_default() -> None:
    assert data_source(None, SETTINGS) == "csv:/data"
    spec = ParentModelSpec.model_validate({"data": {"source": "csv", "csvPath": "/prices"}})
    assert data_source(spec.data, SETTINGS) == "csv:/prices"
    assert (
        data_source(ParentModelSpec.model_validate({"data": {"source": "synthetic"}}).data, SETTINGS)
        == "synthetic"
    )


def test_builders_are_deterministic() -> None:
    spec = TickerModelSpec.model_validate({"ticker": "AAPL", "parentRef": {"name": "gspc"}})
    first = build_training_job(CHILD, spec, SETTINGS, job_name="x", parent=PARENT_V2)
    assert first == build_training_job(CHILD, spec, SETTINGS, job_name="x", parent=PARENT_V2)
    isvc = build_inference_service(
        CHILD, spec, SETTINGS, name="aapl", model_name="stockops-aapl", model_version="4"
    )
    assert isvc == build_inference_service(
        CHILD, spec, SETTINGS, name="aapl", model_name="stockops-aapl", model_version="4"
    )


def test_inference_service_serves_the_promoted_version() -> None:
    spec = TickerModelSpec.model_validate(
        {
            "ticker": "AAPL",
            "parentRef": {"name": "gspc"},
            "serving": {"replicas": 3, "cacheTtlSeconds": 60, "resources": {"cpu": "2", "memory": "3Gi"}},
        }
    )
    isvc = build_inference_service(
        CHILD, spec, SETTINGS, name="aapl", model_name="stockops-aapl", model_version="4"
    )
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1" and isvc["kind"] == "InferenceService"
    predictor = isvc["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (3, 3)
    (container,) = predictor["containers"]
    assert container["image"] == "docker.io/stockops/predictor:0.1.0"
    env = _env(container)
    assert env["STOCKOPS_MODEL_NAME"] == "stockops-aapl"
    assert env["STOCKOPS_MODEL_VERSION"] == "4"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["STOCKOPS_CACHE_TTL_SECONDS"] == "60"
    # It listens on the pod's own address, from the downward API, not on every interface.
    assert env["STOCKOPS_BIND_ADDRESS"] == "fieldRef:status.podIP"
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "3Gi"}
    # KServe would default a missing CPU limit to 1, below this request: the limit is explicit
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "3Gi"}
    # a predictor whose model failed to load answers 503 on /v2/health/ready: never Ready
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8080}
    assert isvc["metadata"]["ownerReferences"][0]["uid"] == "uid-child"
    assert "app.kubernetes.io/instance" not in isvc["metadata"]["labels"]


def test_inference_service_spec_hash_changes_with_the_version() -> None:
    spec = TickerModelSpec.model_validate({"ticker": "AAPL", "parentRef": {"name": "gspc"}})

    def spec_hash(version: str) -> str:
        built = build_inference_service(
            CHILD, spec, SETTINGS, name="a", model_name="m", model_version=version
        )
        return built["metadata"]["annotations"]["stockops.io/spec-hash"]

    assert spec_hash("1") == spec_hash("1") != spec_hash("2")


def test_job_names_are_deterministic_short_and_distinct() -> None:
    name = job_name("aapl", "uid-1", "0a1b2c3d4e", "p2")
    assert name == job_name("aapl", "uid-1", "0a1b2c3d4e", "p2")
    assert name.startswith("aapl-t0a1b2c-p2-")
    others = {job_name("aapl", "uid-1", "ffffffffff", "p2"), job_name("aapl", "uid-1", "0a1b2c3d4e", "p3")}
    assert len({name, *others}) == 3
    assert job_name("aapl", "uid-1", "x") != job_name("aapl", "uid-2", "x")  # a recreated CR never adopts
    long = job_name("a" * 200 + ".x", "uid", "0a1b2c3d4e", "p3")
    assert len(long) <= 63 and long[0].isalnum() and long[-1].isalnum()
    assert all(c.isalnum() or c == "-" for c in long)


def test_inference_service_names_fit_kserve() -> None:
    assert inference_service_name("aapl", "u") == "aapl"
    long = inference_service_name("x" * 100, "u")
    assert len(long) <= 45 and long[0].isalpha()
    assert inference_service_name("9lives", "u").startswith("tm-")
    assert len(label_value("n" * 100)) <= 63


def test_the_walk_forward_request_travels_from_the_spec_to_the_trainer() -> None:
    from stockops.trainer.spec import request_from_spec

    spec = TickerModelSpec.model_validate(
        {"ticker": "AAPL", "parentRef": {"name": "gspc"}, "evaluation": {"walkForwardFolds": 3}}
    )
    job = build_training_job(CHILD, spec, SETTINGS, job_name="aapl-g1-p2-x", parent=PARENT_V2, trigger="p2")
    config = json.loads(_env(job["spec"]["template"]["spec"]["containers"][0])["STOCKOPS_TRAINER_CONFIG"])
    assert config["evaluation"] == {"walkForwardFolds": 3}
    assert request_from_spec("child", config, default_source="auto").walk_forward_folds == 3
    unset = build_training_job(CHILD, spec.model_copy(update={"evaluation": None}), SETTINGS, job_name="n")
    plain = json.loads(_env(unset["spec"]["template"]["spec"]["containers"][0])["STOCKOPS_TRAINER_CONFIG"])
    assert request_from_spec("child", plain, default_source="auto").walk_forward_folds is None


def test_training_and_predictor_pods_carry_the_restricted_profile() -> None:
    job = build_training_job(PARENT, ParentModelSpec(), SETTINGS, job_name="n")
    pod = job["spec"]["template"]["spec"]
    spec = TickerModelSpec.model_validate({"ticker": "AAPL", "parentRef": {"name": "gspc"}})
    predictor = build_inference_service(
        CHILD, spec, SETTINGS, name="aapl", model_name="stockops-aapl", model_version="1"
    )["spec"]["predictor"]
    for where in (pod, predictor):
        assert where["securityContext"]["runAsNonRoot"] is True
        assert where["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert where["automountServiceAccountToken"] is False
        assert where["volumes"] == [{"name": "tmp", "emptyDir": {}}, {"name": "home", "emptyDir": {}}]
        (container,) = where["containers"]
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["capabilities"] == {"drop": ["ALL"]}
        assert context["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert mounts == {"/tmp", "/home/stockops"}  # STOCKOPS_HOME=/home/stockops/.stockops in the images


def test_the_scratch_home_is_the_images_home() -> None:
    """The emptyDir must cover STOCKOPS_HOME as the Dockerfiles set it, or the read-only root breaks."""
    from stockops.operator.pod_security import IMAGE_HOME, IMAGE_UID

    for image in ("trainer", "predictor"):
        dockerfile = (Path(__file__).parents[2] / "images" / image / "Dockerfile").read_text()
        assert f"STOCKOPS_HOME={IMAGE_HOME}/.stockops" in dockerfile
        assert f"USER {IMAGE_UID}" in dockerfile


def test_workloads_get_the_configured_service_accounts_and_pull_secrets() -> None:
    settings = SETTINGS.model_copy(
        update={
            "service_account": "trainer",
            "predictor_service_account": "predictor",
            "image_pull_secrets": ["regcred", "mirror"],
        }
    )
    pod = build_training_job(PARENT, ParentModelSpec(), settings, job_name="n")["spec"]["template"]["spec"]
    spec = TickerModelSpec.model_validate({"ticker": "AAPL", "parentRef": {"name": "gspc"}})
    predictor = build_inference_service(
        CHILD, spec, settings, name="aapl", model_name="stockops-aapl", model_version="1"
    )["spec"]["predictor"]
    secrets = [{"name": "regcred"}, {"name": "mirror"}]
    assert (pod["serviceAccountName"], pod["imagePullSecrets"]) == ("trainer", secrets)
    assert (predictor["serviceAccountName"], predictor["imagePullSecrets"]) == ("predictor", secrets)
    plain = build_training_job(PARENT, ParentModelSpec(), SETTINGS, job_name="n")["spec"]["template"]["spec"]
    assert "imagePullSecrets" not in plain and "serviceAccountName" not in plain


@pytest.mark.parametrize(("value", "expected"), [('["a", "b"]', ["a", "b"]), ("a, b", ["a", "b"]), ("", [])])
def test_pull_secrets_parse_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv("STOCKOPS_OPERATOR_IMAGE_PULL_SECRETS", value)
    monkeypatch.setenv("STOCKOPS_OPERATOR_GPU_NODE_SELECTOR", "")  # empty means none, not an error
    settings = OperatorSettings()
    assert settings.image_pull_secrets == expected and settings.gpu_node_selector == {}


def test_the_training_identity_moves_with_model_fields_only() -> None:
    from stockops.operator.builders import training_identity

    base = {"ticker": "AAPL", "parentRef": {"name": "gspc"}, "training": {"epochs": 3}}

    def identity(**extra: object) -> str:
        return training_identity(TickerModelSpec.model_validate({**base, **extra}))

    same = identity()
    # serving, promotion, monitoring, retrain triggers, resources, suspend, Job limits: no new training
    assert identity(serving={"replicas": 3}) == same
    assert identity(promotion={"minSkill": 0.1}) == same
    assert identity(monitoring={"schedule": "@daily"}, retrain={"onDrift": True}) == same
    assert identity(resources={"cpu": "4"}, suspend=True) == same
    assert identity(training={"epochs": 3, "backoffLimit": 5, "activeDeadlineSeconds": 60}) == same
    assert identity(image={"predictor": "example.com/p:2"}) == same
    # what the model is made of: a new training
    assert identity(training={"epochs": 4}) != same
    assert identity(data={"start": "2016-01-01"}) != same
    assert identity(transfer={"strategy": "freeze"}) != same
    assert identity(image={"trainer": "example.com/t:2"}) != same


def test_credentials_come_from_secrets_never_as_literal_env() -> None:
    from stockops.operator.builders import build_monitor_job

    settings = OperatorSettings(
        mlflow_tracking_uri="http://mlflow:5000",
        data_source="synthetic",
        credentials_secrets="mlflow-auth,s3",
    )
    spec = TickerModelSpec.model_validate({"ticker": "AAPL", "parentRef": {"name": "gspc"}})
    owner = Owner("TickerModel", "aapl", "ml", "u1", 1)
    wanted = [{"secretRef": {"name": "mlflow-auth"}}, {"secretRef": {"name": "s3"}}]
    job = build_training_job(owner, spec, settings, job_name="j")
    check = build_monitor_job(owner, spec, settings, job_name="m", token="t")
    isvc = build_inference_service(
        owner, spec, settings, name="aapl", model_name="stockops-aapl", model_version="1"
    )
    containers = [
        job["spec"]["template"]["spec"]["containers"][0],
        check["spec"]["template"]["spec"]["containers"][0],
        isvc["spec"]["predictor"]["containers"][0],
    ]
    assert all(c["envFrom"] == wanted for c in containers)
    for bad in ({"MLFLOW_TRACKING_PASSWORD": "x"}, {"STOCKOPS_REDIS_URL": "redis://:hunter2@redis:6379/0"}):
        with pytest.raises(ValueError, match="looks like a credential"):
            OperatorSettings(mlflow_tracking_uri="http://m", extra_env=bad)
    fine = OperatorSettings(
        mlflow_tracking_uri="http://m", extra_env={"STOCKOPS_REDIS_URL": "redis://redis:6379/0"}
    )
    assert fine.extra_env["STOCKOPS_REDIS_URL"].startswith("redis://")


def test_a_predictor_asked_to_listen_everywhere_gets_no_bind_address() -> None:
    """With `predictor_listen=all` the predictor keeps its default 0.0.0.0 (port-forward reaches it)."""
    spec = TickerModelSpec.model_validate({"ticker": "AAPL", "parentRef": {"name": "gspc"}})
    everywhere = SETTINGS.model_copy(update={"predictor_listen": "all"})
    isvc = build_inference_service(CHILD, spec, everywhere, name="aapl", model_name="m", model_version="1")
    assert "STOCKOPS_BIND_ADDRESS" not in _env(isvc["spec"]["predictor"]["containers"][0])
