"""Pure builders for an Analysis: the agent Job and the report ConfigMap.

Same rules as `builders` (whose helpers these use): deterministic names, owner references and the
`stockops.io/*` labels, PodSecurity ``restricted`` pods. The agent talks to MLflow, the predictor and
the LLM, never to the Kubernetes API: the pod mounts no service account token, and the operator writes
the report ConfigMap from the agent's result. The LLM key reaches the container by ``secretKeyRef``
only: the operator names the Secret and never reads it (a missing key shows as the pod waiting with
``CreateContainerConfigError``, which `analysis.classify_pod_waiting` turns into a condition).
"""

from __future__ import annotations

import json
from typing import Any

from stockops.crd.analysis import AnalysisSpec
from stockops.operator.analysis import (
    COMPONENT_ANALYSIS,
    DEFAULT_SECRET_KEY,
    AgentResult,
    TickerModelObservation,
    artifact_location,
    report_uri,
)
from stockops.operator.builders import EXIT_BAD_DATA, TERMINATION_MESSAGE_PATH, Owner, env_from
from stockops.operator.naming import (
    ANNOTATION_MODEL_VERSION,
    ANNOTATION_TICKER,
    LABEL_GENERATION,
    owner_labels,
)
from stockops.operator.pod_security import restricted_container_fields, restricted_pod_fields
from stockops.operator.settings import OperatorSettings

AGENT_CONTAINER = "agent"
AGENT_COMMAND = ("python", "-m", "stockops.agent")
AGENT_APP = "stockops-agent"
REPORT_COMPONENT = "report"
REPORT_FILE = "report.md"
RESULT_FILE = "result.json"
# A ConfigMap holds at most 1 MiB; a report is a few KiB, so this only guards against a runaway one.
MAX_REPORT_CHARS = 512 * 1024
CACHE_OFF = (
    "off: no Qdrant URL in this cluster (STOCKOPS_OPERATOR_QDRANT_URL); a pod's storage would not "
    "outlive its Job"
)


def cache_off_note(settings: OperatorSettings) -> str | None:
    """Why agent Jobs run without the semantic cache (None: they use the Qdrant server)."""
    return None if settings.qdrant_url else CACHE_OFF


def _env(name: str, value: str) -> dict[str, str]:
    return {"name": name, "value": value}


def agent_env(
    owner: Owner, spec: AnalysisSpec, model: TickerModelObservation, settings: OperatorSettings, job_name: str
) -> list[dict[str, Any]]:
    """The agent container's env: the question, the TickerModel's ticker, served version, predictor
    and data source as they are now, MLflow, the LLM (key by secretKeyRef), the cache, extra env."""
    env: list[dict[str, Any]] = [
        _env("STOCKOPS_AGENT_TICKER", model.ticker),
        _env("STOCKOPS_AGENT_QUESTION", spec.question),
    ]
    if model.serving_version:
        env.append(_env("STOCKOPS_AGENT_MODEL_VERSION", model.serving_version))
    if model.inference_url:
        env.append(_env("STOCKOPS_PREDICTOR_URL", model.inference_url))
    env += [
        _env("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri),
        _env("STOCKOPS_DATA_SOURCE", model.data_source),
        _env("STOCKOPS_JOB_NAME", job_name),
        _env("STOCKOPS_RESOURCE", owner.resource),
    ]
    llm = spec.llm
    if llm is not None and llm.endpoint:
        env.append(_env("STOCKOPS_LLM_ENDPOINT", llm.endpoint))
    if llm is not None and llm.model:
        env.append(_env("STOCKOPS_LLM_MODEL_NAME", llm.model))
    if llm is not None and llm.secret_ref is not None:
        ref = {"name": llm.secret_ref.name, "key": llm.secret_ref.key or DEFAULT_SECRET_KEY}
        env.append({"name": "STOCKOPS_LLM_API_KEY", "valueFrom": {"secretKeyRef": ref}})
    if settings.qdrant_url:
        env.append(_env("STOCKOPS_QDRANT_URL", settings.qdrant_url))
    else:
        env.append(_env("STOCKOPS_SEMANTIC_CACHE", "off"))
    taken = {e["name"] for e in env}
    env += [_env(k, v) for k, v in sorted(settings.extra_env.items()) if k not in taken]
    return env


def build_agent_job(
    owner: Owner,
    spec: AnalysisSpec,
    model: TickerModelObservation,
    settings: OperatorSettings,
    *,
    job_name: str,
) -> dict[str, Any]:
    """The batch/v1 Job answering `owner`'s question about `model` (one per generation)."""
    labels = owner_labels(owner.kind, owner.name, owner.uid, COMPONENT_ANALYSIS, AGENT_APP)
    labels[LABEL_GENERATION] = str(owner.generation)
    annotations = {ANNOTATION_TICKER: model.ticker}
    if model.serving_version:
        annotations[ANNOTATION_MODEL_VERSION] = model.serving_version
    container: dict[str, Any] = {
        "name": AGENT_CONTAINER,
        "image": settings.agent_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": list(AGENT_COMMAND),
        "env": agent_env(owner, spec, model, settings, job_name),
        **env_from(settings),
        "resources": {
            "requests": {"cpu": settings.agent_cpu, "memory": settings.agent_memory},
            "limits": {"memory": settings.agent_memory},
        },
        "terminationMessagePath": TERMINATION_MESSAGE_PATH,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        **restricted_container_fields(),
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        **restricted_pod_fields(),
    }
    if settings.service_account:
        pod_spec["serviceAccountName"] = settings.service_account
    if settings.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": name} for name in settings.image_pull_secrets]
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
            "backoffLimit": settings.agent_backoff_limit,
            "activeDeadlineSeconds": settings.agent_active_deadline_seconds,
            "ttlSecondsAfterFinished": settings.job_ttl_seconds,
            "completions": 1,
            "parallelism": 1,
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": AGENT_CONTAINER,
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


def summary_report(result: AgentResult, uri: str | None) -> str:
    """The report.md written when the full text could not be fetched: the call, the summary and where the
    full report is."""
    location = artifact_location(result.report_artifact, result.mlflow_run_id)
    where = uri or result.report_artifact or "the analysis' MLflow run"
    lines = [
        f"# {result.ticker}: {result.stance} ({result.confidence})",
        "",
        result.summary or "",
        "",
        f"Model {result.model_name} version {result.model_version}, data {result.data_date}, "
        f"written by {result.generator}; critic score {result.critic_score}.",
        "",
        "The operator could not fetch the full report from MLflow; it is the artifact "
        f"`{location[1] if location else 'analysis/report.md'}` of run `{result.mlflow_run_id}`: {where}",
    ]
    return "\n".join(lines) + "\n"


def build_report_config_map(
    owner: Owner,
    *,
    name: str,
    result: AgentResult,
    report: str | None,
    mlflow_ui: str | None,
) -> dict[str, Any]:
    """The ConfigMap `<analysis>-report` (owned by the Analysis): report.md (the full report, or the
    summary and a link when `report` is None) and result.json (the agent's result)."""
    uri = report_uri(mlflow_ui, artifact_location(result.report_artifact, result.mlflow_run_id))
    text = report if report is not None else summary_report(result, uri)
    if len(text) > MAX_REPORT_CHARS:
        text = (
            text[:MAX_REPORT_CHARS] + f"\n\n(cut at {MAX_REPORT_CHARS} characters; the full report: {uri})\n"
        )
    labels = owner_labels(owner.kind, owner.name, owner.uid, REPORT_COMPONENT, AGENT_APP)
    labels[LABEL_GENERATION] = str(owner.generation)
    annotations = {"stockops.io/report-complete": "true" if report is not None else "false"}
    if result.mlflow_run_id:
        annotations["stockops.io/mlflow-run-id"] = result.mlflow_run_id
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner.reference()],
        },
        "data": {
            REPORT_FILE: text,
            RESULT_FILE: json.dumps(result.wire(), indent=2, sort_keys=True) + "\n",
        },
    }
