"""Operator configuration from the environment (prefix `STOCKOPS_OPERATOR_`), read once in __main__."""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from stockops import __version__

# Fully qualified and tagged with this release (the chart's appVersion): never an implicit docker.io or
# :latest, which would make what a cluster runs depend on when it pulled.
IMAGE_REGISTRY = "docker.io"


def default_image(component: str) -> str:
    """``docker.io/stockops/<component>:<version of this package>``."""
    return f"{IMAGE_REGISTRY}/stockops/{component}:{__version__}"


CREDENTIAL_WORDS = ("PASSWORD", "SECRET", "TOKEN", "API_KEY", "ACCESS_KEY", "PRIVATE_KEY")
_URL_PASSWORD = re.compile(r"://[^/@\s:]*:[^/@\s]+@")  # scheme://user:password@host


class OperatorSettings(BaseSettings):
    """Everything the operator decides that a resource's spec does not."""

    model_config = SettingsConfigDict(
        env_prefix="STOCKOPS_OPERATOR_", extra="ignore", frozen=True, populate_by_name=True
    )

    mlflow_tracking_uri: str = Field(
        default="http://mlflow.stockops.svc:5000",
        validation_alias=AliasChoices("STOCKOPS_OPERATOR_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"),
        description="MLflow URI given to training Jobs and predictors (as seen from inside the cluster).",
    )
    mlflow_api_uri: str | None = Field(
        default=None,
        description="MLflow URI the operator itself reads progress from; unset: mlflow_tracking_uri.",
    )
    mlflow_ui_uri: str | None = Field(
        default=None, description="Public MLflow UI base for status links; unset: mlflow_tracking_uri."
    )
    mlflow_experiment: str = Field(default="stockops", description="Experiment the trainer logs runs to.")
    data_source: str = Field(
        default="auto",
        validation_alias=AliasChoices("STOCKOPS_OPERATOR_DATA_SOURCE", "STOCKOPS_DATA_SOURCE"),
        description="STOCKOPS_DATA_SOURCE for Jobs whose spec.data.source is unset.",
    )
    trainer_image: str = Field(default=default_image("trainer"), description="Default training image.")
    predictor_image: str = Field(default=default_image("predictor"), description="Default predictor image.")
    agent_image: str = Field(default=default_image("agent"), description="Image of the Analysis agent Jobs.")
    image_pull_policy: str = Field(default="IfNotPresent", description="Default imagePullPolicy.")
    service_account: str | None = Field(default=None, description="ServiceAccount for training pods.")
    predictor_service_account: str | None = Field(
        default=None, description="ServiceAccount for predictor pods (unset: the namespace's default)."
    )
    image_pull_secrets: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Names of image pull Secrets (in each resource's namespace) for training and predictor pods "
            "(a JSON list in the environment, or comma-separated)."
        ),
    )
    credentials_secrets: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Secrets (in each resource's namespace) whose keys become env of training, check and "
            "predictor containers through envFrom: MLFLOW_TRACKING_USERNAME/PASSWORD, AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, STOCKOPS_REDIS_URL with a password, ... The operator never reads them."
        ),
    )
    job_backoff_limit: int = Field(default=2, ge=0, le=10, description="Default Job backoffLimit.")
    job_active_deadline_seconds: int = Field(default=6 * 3600, ge=60, description="Default Job deadline.")
    job_ttl_seconds: int = Field(default=24 * 3600, ge=0, description="ttlSecondsAfterFinished of Jobs.")
    agent_backoff_limit: int = Field(
        default=2, ge=0, le=10, description="backoffLimit of agent Jobs (retries an unreachable LLM)."
    )
    agent_active_deadline_seconds: int = Field(
        default=1800, ge=60, description="activeDeadlineSeconds of agent Jobs."
    )
    agent_cpu: str = Field(default="500m", description="CPU request of agent pods.")
    agent_memory: str = Field(default="2Gi", description="Memory of agent pods.")
    qdrant_url: str | None = Field(
        default=None,
        description=(
            "Qdrant server the agents' semantic cache uses (as seen from the pods); unset: the cache is off "
            "(a pod's storage would not outlive its Job)."
        ),
    )
    report_grace_seconds: float = Field(
        default=120.0,
        ge=0,
        description=(
            "How long the operator retries fetching a finished analysis' report from MLflow before it "
            "writes the report ConfigMap with the summary and a link instead."
        ),
    )
    default_cpu: str = Field(default="1", description="CPU request of training pods when unset in spec.")
    default_memory: str = Field(default="2Gi", description="Memory of training pods when unset in spec.")
    predictor_cpu: str = Field(default="500m", description="CPU request of predictor pods when unset.")
    predictor_memory: str = Field(default="1Gi", description="Memory of predictor pods when unset.")
    predictor_listen: Literal["pod-ip", "all"] = Field(
        default="pod-ip",
        description=(
            "Where predictors listen: 'pod-ip' (the pod's own address, from the downward API, what probes "
            "and Services use) or 'all' (every interface, 0.0.0.0: also the pod's loopback, which "
            "`kubectl port-forward` connects to)."
        ),
    )
    # NoDecode: our validators parse the environment's strings (JSON, or a comma list), empty included
    gpu_node_selector: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description=(
            "Node selector added when a spec asks for GPUs (JSON object in the environment). Empty by "
            "default: the nvidia.com/gpu resource request and its toleration place GPU pods on every "
            "cluster, while labels such as nvidia.com/gpu.present exist only where NVIDIA's GPU feature "
            "discovery runs (a selector on them would leave GPU pods Pending elsewhere)."
        ),
    )
    kserve_deployment_mode: str | None = Field(
        default="RawDeployment",
        description="serving.kserve.io/deploymentMode of InferenceServices (empty: KServe default).",
    )
    extra_env: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Extra env for training and predictor containers (JSON object), e.g. STOCKOPS_REDIS_URL.",
    )
    timer_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often each resource is re-checked (progress, parent readiness)."
    )
    wait_delay_max_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Cap of the growing retry delay while a TickerModel waits for its parent.",
    )
    result_grace_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long a succeeded Job may lack its termination message before Failed.",
    )
    max_workers: int = Field(
        default=16, ge=1, le=256, description="Threads for the blocking Kubernetes calls."
    )
    kube_connections: int = Field(
        default=32,
        ge=0,
        le=1024,
        description=(
            "Connections Kopf's HTTP session may open for requests (patches, Events) besides its watch "
            "streams (0: unlimited, Kopf's default). Each TLS connection holds ~300 KB; unlimited, a "
            "burst of a thousand objects opened hundreds."
        ),
    )
    metrics_port: int = Field(default=9090, ge=0, le=65535, description="Prometheus port (0: no server).")

    @field_validator("gpu_node_selector", "extra_env", mode="before")
    @classmethod
    def _parse_json_object(cls, value: object) -> object:
        """Accept a JSON object string, which is how a dict arrives from an environment variable."""
        if isinstance(value, str):
            parsed = json.loads(value) if value.strip() else {}
            if not isinstance(parsed, dict):
                raise ValueError(f"expected a JSON object, got {value!r}")
            return parsed
        return value

    @field_validator("extra_env")
    @classmethod
    def _no_literal_credentials(cls, value: dict[str, str]) -> dict[str, str]:
        """Credentials never travel as literal env in a Job spec anyone with `get jobs` can read."""
        for name, text in value.items():
            secret_name = any(word in name.upper() for word in CREDENTIAL_WORDS)
            if secret_name or _URL_PASSWORD.search(str(text)):
                raise ValueError(
                    f"extra_env {name} looks like a credential: put it in a Secret and name the Secret in "
                    "STOCKOPS_OPERATOR_CREDENTIALS_SECRETS (envFrom), never as literal env"
                )
        return value

    @field_validator("qdrant_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """An empty variable (a chart value left blank) means not set."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("image_pull_secrets", "credentials_secrets", mode="before")
    @classmethod
    def _parse_name_list(cls, value: object) -> object:
        """A JSON list or a comma-separated string (how a list arrives from an environment variable)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [name.strip() for name in text.split(",") if name.strip()]
        return value

    @property
    def progress_uri(self) -> str:
        """Where the operator reads MLflow progress from."""
        return self.mlflow_api_uri or self.mlflow_tracking_uri

    @property
    def ui_uri(self) -> str:
        return (self.mlflow_ui_uri or self.mlflow_tracking_uri).rstrip("/")
