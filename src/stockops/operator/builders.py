"""Pure builders: a resource's spec -> the Job / InferenceService manifests the operator creates.

No I/O and no clock: the same inputs give the same dict, so tests pin the manifests exactly and a
restarted operator rebuilds what it built before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from stockops.crd.base import API_VERSION
from stockops.crd.parent_model import ParentModelSpec
from stockops.crd.spec_blocks import DataSpec, ImageSpec, ResourcesSpec, SchedulingSpec
from stockops.crd.ticker_model import TickerModelSpec
from stockops.operator.naming import (
    ANNOTATION_PARENT_VERSION,
    ANNOTATION_SPEC_HASH,
    ANNOTATION_TICKER,
    ANNOTATION_TRIGGER,
    COMPONENT_MONITOR,
    COMPONENT_TRAINING,
    LABEL_GENERATION,
    owner_labels,
    short_hash,
)
from stockops.operator.pod_security import restricted_container_fields, restricted_pod_fields
from stockops.operator.settings import OperatorSettings

TRAINER_CONTAINER = "trainer"
MONITOR_CONTAINER = "monitor"
MONITOR_COMMAND = ("python", "-m", "stockops.monitoring.job")
# A check reads a few thousand rows and runs one test per feature: small, bounded, retried twice.
MONITOR_CPU, MONITOR_MEMORY = "500m", "1Gi"
MONITOR_BACKOFF_LIMIT = 2
MONITOR_DEADLINE_SECONDS = 1800
PREDICTOR_CONTAINER = "kserve-container"
PREDICTOR_PORT = 8080
GPU_RESOURCE = "nvidia.com/gpu"
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
# Exit code the trainer uses for bad/missing data: retrying cannot help, so the Job fails at once.
EXIT_BAD_DATA = 2


@dataclass(frozen=True)
class Owner:
    """The custom resource that owns what we build."""

    kind: str
    name: str
    namespace: str
    uid: str
    generation: int

    @property
    def resource(self) -> str:
        """`Kind/namespace/name`, how the trainer and logs name the resource."""
        return f"{self.kind}/{self.namespace}/{self.name}"

    def reference(self) -> dict[str, Any]:
        """An ownerReference with controller=true (kubectl and GC see who owns the object)."""
        return {
            "apiVersion": API_VERSION,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


@dataclass(frozen=True)
class ParentVersion:
    """The parent model version a child transfers from."""

    name: str
    ticker: str
    model_name: str | None
    model_version: str


def data_source(data: DataSpec | None, settings: OperatorSettings) -> str:
    """STOCKOPS_DATA_SOURCE for a spec: its source (csv with its path) or the operator default."""
    if data is None or data.source is None:
        return settings.data_source
    if data.source == "csv":
        return f"csv:{data.csv_path}"
    return data.source


def _env(name: str, value: str) -> dict[str, str]:
    return {"name": name, "value": value}


def _pod_ip_env(name: str) -> dict[str, Any]:
    # apiVersion as the API server defaults it, so the stored container equals the one we sent
    return {"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}


def _extra_env(settings: OperatorSettings, env: list[dict[str, str]]) -> list[dict[str, str]]:
    """The operator's extra env, minus names the builder already set (those win)."""
    taken = {e["name"] for e in env}
    return [_env(k, v) for k, v in sorted(settings.extra_env.items()) if k not in taken]


def env_from(settings: OperatorSettings) -> dict[str, Any]:
    """``envFrom`` of every workload container: the credentials Secrets (keys become env; the operator
    names them and never reads them). Empty when none are configured."""
    if not settings.credentials_secrets:
        return {}
    return {"envFrom": [{"secretRef": {"name": name}} for name in settings.credentials_secrets]}


def _resources(resources: ResourcesSpec | None, cpu: str, memory: str) -> dict[str, Any]:
    cpu = (resources.cpu if resources else None) or cpu
    memory = (resources.memory if resources else None) or memory
    gpus = (resources.gpu if resources else None) or 0
    requests: dict[str, str] = {"cpu": cpu, "memory": memory}
    limits: dict[str, str] = {"memory": memory}
    if gpus > 0:
        requests[GPU_RESOURCE] = str(gpus)
        limits[GPU_RESOURCE] = str(gpus)
    return {"requests": requests, "limits": limits}


def _placement(scheduling: SchedulingSpec | None, gpus: int, settings: OperatorSettings) -> dict[str, Any]:
    """nodeSelector and tolerations: the spec's, plus GPU node selection and the GPU taint if gpus > 0."""
    node_selector: dict[str, str] = {}
    tolerations: list[dict[str, Any]] = []
    if gpus > 0:
        node_selector.update(settings.gpu_node_selector)
        tolerations.append({"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"})
    if scheduling is not None:
        node_selector.update(scheduling.node_selector or {})
        tolerations.extend(t.to_wire() for t in scheduling.tolerations or ())
    placement: dict[str, Any] = {}
    if node_selector:
        placement["nodeSelector"] = dict(sorted(node_selector.items()))
    if tolerations:
        placement["tolerations"] = tolerations
    return placement


def _identity(service_account: str | None, settings: OperatorSettings) -> dict[str, Any]:
    """serviceAccountName and imagePullSecrets of a workload pod, when configured."""
    fields: dict[str, Any] = {}
    if service_account:
        fields["serviceAccountName"] = service_account
    if settings.image_pull_secrets:
        fields["imagePullSecrets"] = [{"name": name} for name in settings.image_pull_secrets]
    return fields


def _image(image: ImageSpec | None, role: str, settings: OperatorSettings) -> tuple[str, str]:
    default = settings.trainer_image if role == "trainer" else settings.predictor_image
    name = (getattr(image, role, None) if image else None) or default
    policy = (image.pull_policy if image else None) or settings.image_pull_policy
    return name, policy


# What decides the trained model; everything else in a spec (serving, promotion, monitoring, retrain,
# resources, scheduling, suspend, the predictor image) can change without a new training.
MODEL_FIELDS = ("ticker", "parentRef", "data", "features", "model", "training", "transfer", "evaluation")
JOB_ONLY_TRAINING_FIELDS = ("backoffLimit", "activeDeadlineSeconds")


def training_identity(spec: ParentModelSpec | TickerModelSpec) -> str:
    """A short hash of the spec fields that change the trained model (pure; the training Job's key)."""
    wire = spec.to_wire()
    identity: dict[str, Any] = {k: wire[k] for k in MODEL_FIELDS if k in wire}
    training = {
        k: v for k, v in (identity.pop("training", None) or {}).items() if k not in JOB_ONLY_TRAINING_FIELDS
    }
    if training:
        identity["training"] = training
    trainer_image = (wire.get("image") or {}).get("trainer")
    if trainer_image:  # other trainer code trains another model
        identity["trainerImage"] = trainer_image
    return short_hash(json.dumps(identity, sort_keys=True, separators=(",", ":")), length=10)


def trainer_config(spec: ParentModelSpec | TickerModelSpec, parent: ParentVersion | None) -> str:
    """STOCKOPS_TRAINER_CONFIG: the spec as JSON (camelCase, unset fields left out), plus parentVersion."""
    config = spec.to_wire()
    if parent is not None:
        config["parentVersion"] = parent.model_version
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def trainer_args(
    spec: ParentModelSpec | TickerModelSpec, parent: ParentVersion | None, settings: OperatorSettings
) -> list[str]:
    """The trainer's command line. `--source` only when the spec names one: it resolves
    `csv` + `csvPath` into `csv:DIR`, which the trainer's spec parser cannot do from the spec alone."""
    args = ["--kind", "parent" if parent is None else "child", "--ticker", spec.ticker]
    if parent is not None:
        args += ["--parent", parent.ticker, "--parent-version", parent.model_version]
        strategy = spec.transfer.strategy if isinstance(spec, TickerModelSpec) and spec.transfer else None
        if strategy:
            args += ["--strategy", strategy]
    if spec.data is not None and spec.data.source is not None:
        args += ["--source", data_source(spec.data, settings)]
    return args


def build_training_job(
    owner: Owner,
    spec: ParentModelSpec | TickerModelSpec,
    settings: OperatorSettings,
    *,
    job_name: str,
    trigger: str = "",
    parent: ParentVersion | None = None,
) -> dict[str, Any]:
    """The batch/v1 Job that trains `owner` (a parent when `parent` is None, else a child)."""
    image, pull_policy = _image(spec.image, "trainer", settings)
    gpus = (spec.resources.gpu if spec.resources else None) or 0
    training = spec.training
    backoff_limit = settings.job_backoff_limit
    if training and training.backoff_limit is not None:
        backoff_limit = training.backoff_limit
    deadline = (
        training.active_deadline_seconds if training else None
    ) or settings.job_active_deadline_seconds
    env = [
        _env("STOCKOPS_TRAINER_CONFIG", trainer_config(spec, parent)),
        _env("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri),
        _env("STOCKOPS_DATA_SOURCE", data_source(spec.data, settings)),
        _env("STOCKOPS_JOB_NAME", job_name),
        _env("STOCKOPS_RESOURCE", owner.resource),
    ]
    if isinstance(spec, TickerModelSpec) and spec.promotion and spec.promotion.min_skill is not None:
        env.append(_env("STOCKOPS_PROMOTION_MIN_SKILL", repr(spec.promotion.min_skill)))
    env += _extra_env(settings, env)

    labels = owner_labels(owner.kind, owner.name, owner.uid, COMPONENT_TRAINING, "stockops-trainer")
    labels[LABEL_GENERATION] = str(owner.generation)
    annotations = {ANNOTATION_TICKER: spec.ticker}
    if trigger:
        annotations[ANNOTATION_TRIGGER] = trigger
    if parent is not None:
        annotations[ANNOTATION_PARENT_VERSION] = parent.model_version

    container: dict[str, Any] = {
        "name": TRAINER_CONTAINER,
        "image": image,
        "imagePullPolicy": pull_policy,
        "args": trainer_args(spec, parent, settings),
        "env": env,
        **env_from(settings),
        "resources": _resources(spec.resources, settings.default_cpu, settings.default_memory),
        "terminationMessagePath": TERMINATION_MESSAGE_PATH,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        **restricted_container_fields(),
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        **restricted_pod_fields(),
        **_placement(spec.scheduling, gpus, settings),
    }
    pod_spec.update(_identity(settings.service_account, settings))

    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name,
            "namespace": owner.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner.reference()],
        },
        "spec": {
            "backoffLimit": backoff_limit,
            "activeDeadlineSeconds": deadline,
            "ttlSecondsAfterFinished": settings.job_ttl_seconds,
            "completions": 1,
            "parallelism": 1,
            "suspend": bool(spec.suspend),
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": TRAINER_CONTAINER,
                            "operator": "In",
                            "values": [EXIT_BAD_DATA],
                        },
                    },
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                ]
            },
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": pod_spec,
            },
        },
    }


def monitor_config(spec: TickerModelSpec) -> str:
    """STOCKOPS_MONITOR_CONFIG: the ticker and the spec.monitoring knobs the check uses (JSON)."""
    config: dict[str, Any] = {"ticker": spec.ticker}
    if spec.monitoring is not None:
        wire = spec.monitoring.to_wire()
        config.update({k: wire[k] for k in ("window", "method", "liveWindow") if k in wire})
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def build_monitor_job(
    owner: Owner, spec: TickerModelSpec, settings: OperatorSettings, *, job_name: str, token: str
) -> dict[str, Any]:
    """The batch/v1 Job that checks the served version (drift + live error) in the trainer image."""
    image, pull_policy = _image(spec.image, "trainer", settings)
    env = [
        _env("STOCKOPS_MONITOR_CONFIG", monitor_config(spec)),
        _env("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri),
        _env("STOCKOPS_DATA_SOURCE", data_source(spec.data, settings)),
        _env("STOCKOPS_JOB_NAME", job_name),
        _env("STOCKOPS_RESOURCE", owner.resource),
    ]
    env += _extra_env(settings, env)
    labels = owner_labels(owner.kind, owner.name, owner.uid, COMPONENT_MONITOR, "stockops-monitor")
    annotations = {ANNOTATION_TICKER: spec.ticker, ANNOTATION_TRIGGER: token}
    container: dict[str, Any] = {
        "name": MONITOR_CONTAINER,
        "image": image,
        "imagePullPolicy": pull_policy,
        "command": list(MONITOR_COMMAND),
        "env": env,
        **env_from(settings),
        "resources": {
            "requests": {"cpu": MONITOR_CPU, "memory": MONITOR_MEMORY},
            "limits": {"memory": MONITOR_MEMORY},
        },
        "terminationMessagePath": TERMINATION_MESSAGE_PATH,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        **restricted_container_fields(),
    }
    scheduling = spec.scheduling
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        **restricted_pod_fields(),
        **_placement(scheduling, 0, settings),
    }
    pod_spec.update(_identity(settings.service_account, settings))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name,
            "namespace": owner.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner.reference()],
        },
        "spec": {
            "backoffLimit": MONITOR_BACKOFF_LIMIT,
            "activeDeadlineSeconds": MONITOR_DEADLINE_SECONDS,
            "ttlSecondsAfterFinished": settings.job_ttl_seconds,
            "completions": 1,
            "parallelism": 1,
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": MONITOR_CONTAINER,
                            "operator": "In",
                            "values": [EXIT_BAD_DATA],
                        },
                    },
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                ]
            },
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod_spec},
        },
    }


def _http_probe(path: str, *, period: int, failures: int, initial_delay: int = 0) -> dict[str, Any]:
    """An HTTP GET probe on the predictor port (KServe's V2 health endpoints)."""
    probe: dict[str, Any] = {
        "httpGet": {"path": path, "port": PREDICTOR_PORT},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 2,
    }
    if initial_delay:
        probe["initialDelaySeconds"] = initial_delay
    return probe


def build_inference_service(
    owner: Owner,
    spec: TickerModelSpec,
    settings: OperatorSettings,
    *,
    name: str,
    model_name: str,
    model_version: str,
) -> dict[str, Any]:
    """The KServe v1beta1 InferenceService serving `model_name` version `model_version`."""
    image, pull_policy = _image(spec.image, "predictor", settings)
    serving = spec.serving
    replicas = (serving.replicas if serving else None) or 1
    serving_resources = serving.resources if serving else None
    cpu = (serving_resources.cpu if serving_resources else None) or settings.predictor_cpu
    memory = (serving_resources.memory if serving_resources else None) or settings.predictor_memory
    env = [
        _env("STOCKOPS_MODEL_NAME", model_name),
        _env("STOCKOPS_MODEL_VERSION", model_version),
        _env("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri),
        _env("STOCKOPS_DATA_SOURCE", data_source(spec.data, settings)),
    ]
    if serving and serving.cache_ttl_seconds is not None:
        env.append(_env("STOCKOPS_CACHE_TTL_SECONDS", str(serving.cache_ttl_seconds)))
    # The predictor listens on the pod's own address (what the kubelet's probes and the Service's
    # endpoints use), handed over by the downward API, unless every interface is asked for.
    if settings.predictor_listen == "pod-ip":
        env.append(_pod_ip_env("STOCKOPS_BIND_ADDRESS"))
    env += _extra_env(settings, env)

    labels = owner_labels(owner.kind, owner.name, owner.uid, "serving", "stockops-predictor")
    annotations = {ANNOTATION_TICKER: spec.ticker}
    if settings.kserve_deployment_mode:
        annotations["serving.kserve.io/deploymentMode"] = settings.kserve_deployment_mode
    predictor: dict[str, Any] = {
        "minReplicas": replicas,
        "maxReplicas": replicas,
        "containers": [
            {
                "name": PREDICTOR_CONTAINER,
                "image": image,
                "imagePullPolicy": pull_policy,
                "env": env,
                **env_from(settings),
                "ports": [{"containerPort": PREDICTOR_PORT, "protocol": "TCP"}],
                # An explicit CPU limit: KServe defaults a missing one to 1 CPU, and a request above
                # the limit is invalid, so a request of 2 CPUs would be refused.
                "resources": {
                    "requests": {"cpu": cpu, "memory": memory},
                    "limits": {"cpu": cpu, "memory": memory},
                },
                # Declared probes: without them KServe's RawDeployment adds a TCP probe, which is
                # Ready as soon as the port listens, even when the model failed to load.
                "readinessProbe": _http_probe("/v2/health/ready", period=5, failures=3),
                "livenessProbe": _http_probe("/v2/health/live", period=10, failures=6, initial_delay=30),
                **restricted_container_fields(),
            }
        ],
        **restricted_pod_fields(),
        **_identity(settings.predictor_service_account, settings),
        **_placement(spec.scheduling, 0, settings),
    }
    manifest: dict[str, Any] = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner.reference()],
        },
        "spec": {"predictor": predictor},
    }
    # Lets the operator see that a spec change (replicas, resources, version) needs an update.
    manifest["metadata"]["annotations"][ANNOTATION_SPEC_HASH] = short_hash(
        json.dumps(manifest["spec"], sort_keys=True), length=16
    )
    return manifest
