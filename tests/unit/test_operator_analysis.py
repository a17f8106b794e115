"""The Analysis kind: waiting for the TickerModel, one agent Job per generation, the status and the
report ConfigMap, decided against an in-memory `Cluster` and `ReportSource`.

The fakes below implement our own ports (not Kubernetes or MLflow mocks) and record what the pass asked
for; the same code runs against a real kube-apiserver and a real MLflow server in tests/e2e and
tests/component.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from stockops.crd.analysis import AnalysisSpec, AnalysisStatus
from stockops.operator.analysis import (
    AgentResult,
    TickerModelObservation,
    analysis_job_name,
    artifact_location,
    classify_pod_waiting,
    observe_ticker_model,
    parse_agent_message,
    report_config_map_name,
)
from stockops.operator.analysis_builders import build_agent_job, build_report_config_map
from stockops.operator.analysis_reconcile import (
    AnalysisObserved,
    AnalysisReconcileResult,
    AnalysisResource,
    reconcile_analysis,
)
from stockops.operator.builders import Owner
from stockops.operator.cluster import ConfigMapTakenError
from stockops.operator.observations import JobObservation, observe_job
from stockops.operator.settings import OperatorSettings

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
SETTINGS = OperatorSettings(mlflow_tracking_uri="http://mlflow:5000", data_source="synthetic")
OWNER_UID = "stockops.io/owner-uid"
MODEL = TickerModelObservation(
    name="aapl",
    ticker="AAPL",
    phase="Ready",
    ready=True,
    model_name="stockops-aapl",
    serving_version="3",
    inference_url="http://aapl.ml.svc",
    data_source="csv:/data",
)
OK = {
    "ok": True,
    "ticker": "AAPL",
    "stance": "NEUTRAL",
    "confidence": "LOW",
    "summary": "The model's edge is not distinguishable from the random walk.",
    "model_name": "stockops-aapl",
    "model_version": "3",
    "data_date": "2024-04-30",
    "generator": "template",
    "cached": False,
    "cache": "semantic cache off (STOCKOPS_SEMANTIC_CACHE=off)",
    "critic_score": 1.0,
    "revisions": 0,
    "mlflow_run_id": "r123",
    "report_artifact": "runs:/r123/analysis/report.md",
    "objections": [],
    "objections_total": 0,
}
REPORT = "# AAPL: NEUTRAL (LOW)\n\nThe full report.\n"
DONE = {
    "succeeded": 1,
    "startTime": "2024-05-01T11:58:00Z",
    "completionTime": "2024-05-01T11:59:30Z",
    "conditions": [{"type": "Complete", "status": "True"}],
}


def failed_job(reason: str = "BackoffLimitExceeded", failed: int = 3) -> dict[str, Any]:
    return {
        "failed": failed,
        "conditions": [
            {
                "type": "Failed",
                "status": "True",
                "reason": reason,
                "lastTransitionTime": "2024-05-01T11:59:00Z",
            }
        ],
    }


class FakeCluster:
    """Jobs and ConfigMaps in dicts; termination messages and pod waiting states set by the test."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.config_maps: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, str] = {}
        self.waiting: dict[str, tuple[str, str]] = {}
        self.calls: list[str] = []

    def create_job(self, manifest: dict[str, Any]) -> JobObservation:
        self.calls.append(f"create_job {manifest['metadata']['name']}")
        self.jobs.setdefault(manifest["metadata"]["name"], manifest)
        return observe_job(manifest)

    def delete_job(self, namespace: str, name: str) -> None:
        self.calls.append(f"delete_job {name}")
        self.jobs.pop(name, None)

    def set_job_suspended(self, namespace: str, name: str, suspended: bool) -> None:
        raise AssertionError("an agent Job is never suspended")

    def termination_message(self, namespace: str, job_name: str) -> str | None:
        self.calls.append(f"pods {job_name}")
        return self.messages.get(job_name)

    def pod_waiting(self, namespace: str, job_name: str) -> tuple[str, str] | None:
        self.calls.append(f"pod_waiting {job_name}")
        return self.waiting.get(job_name)

    def apply_config_map(self, manifest: dict[str, Any]) -> None:
        name = manifest["metadata"]["name"]
        existing = self.config_maps.get(name)
        owner = manifest["metadata"]["labels"][OWNER_UID]
        if existing is not None and existing["metadata"]["labels"].get(OWNER_UID) != owner:
            raise ConfigMapTakenError(409, f"apply ConfigMap {name}", "not ours")
        self.calls.append(f"apply_config_map {name}")
        self.config_maps[name] = manifest

    def patch_status(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.calls.append(f"patch_status {kind}/{name}")

    def delete_owned(self, namespace: str, owner_uid: str) -> list[str]:
        owned = [
            n for n, m in self.config_maps.items() if m["metadata"]["labels"].get(OWNER_UID) == owner_uid
        ]
        for name in owned:
            del self.config_maps[name]
        return [f"ConfigMap/{name}" for name in owned]

    def create_inference_service(self, manifest: dict[str, Any]) -> Any:
        raise AssertionError("an Analysis serves nothing")

    update_inference_service = create_inference_service

    def delete_inference_service(self, namespace: str, name: str) -> None:
        raise AssertionError("an Analysis serves nothing")


class FakeReports:
    """The MLflow artifacts that can be read right now."""

    def __init__(self, texts: dict[tuple[str, str], str] | None = None) -> None:
        self.texts = dict(texts or {})
        self.asked: list[tuple[str, str]] = []

    def fetch(self, run_id: str, path: str) -> str | None:
        self.asked.append((run_id, path))
        return self.texts.get((run_id, path))


def body(generation: int = 1, status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "aapl-outlook", "namespace": "ml", "uid": "u1", "generation": generation},
        "spec": {"tickerModelRef": {"name": "aapl"}, "question": "Where is AAPL heading?", **spec},
        "status": status or {},
    }


def run(
    b: dict[str, Any],
    cluster: FakeCluster,
    *,
    model: TickerModelObservation | None = MODEL,
    reports: FakeReports | None = None,
    now: dt.datetime = NOW,
    settings: OperatorSettings = SETTINGS,
    **job_status: dict[str, Any],
) -> AnalysisReconcileResult:
    """One pass with the Jobs the cluster holds (their status from `job_status` by name)."""
    jobs = tuple(observe_job({**m, "status": job_status.get(name, {})}) for name, m in cluster.jobs.items())
    resource = AnalysisResource.from_body(b)
    result = reconcile_analysis(
        resource, AnalysisObserved(jobs=jobs, model=model), cluster, reports or FakeReports(), settings, now
    )
    b["status"] = result.status.to_wire()
    return result


def conditions(status: AnalysisStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions or ()}


def env_of(job: dict[str, Any]) -> dict[str, Any]:
    container = job["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


# -- names and observations ------------------------------------------------------------------------------


def test_job_names_are_per_generation_stable_and_fit_a_label() -> None:
    first = analysis_job_name("aapl-outlook", "u1", 1)
    assert first.startswith("aapl-outlook-an-g1-") and first == analysis_job_name("aapl-outlook", "u1", 1)
    assert analysis_job_name("aapl-outlook", "u1", 2) != first
    assert analysis_job_name("aapl-outlook", "u2", 1) != first  # a recreated Analysis never adopts
    long = analysis_job_name("a" * 250, "u1", 12)
    assert len(long) <= 63 and long.endswith(long.rsplit("-", 1)[1]) and "-an-g12-" in long
    assert report_config_map_name("aapl-outlook") == "aapl-outlook-report"
    assert len(report_config_map_name("b" * 253)) <= 253


def test_a_ticker_model_counts_as_ready_only_for_its_current_generation_with_a_served_version() -> None:
    tm = {
        "metadata": {"name": "aapl", "generation": 2},
        "spec": {"ticker": "AAPL", "data": {"source": "csv", "csvPath": "/prices"}},
        "status": {
            "observedGeneration": 2,
            "phase": "Ready",
            "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "serving"}],
            "mlflow": {"modelName": "stockops-aapl", "servingVersion": "4"},
            "inference": {"url": "http://aapl.ml", "ready": True},
        },
    }
    seen = observe_ticker_model(tm, SETTINGS)
    assert seen.ready and (seen.ticker, seen.serving_version, seen.inference_url) == (
        "AAPL",
        "4",
        "http://aapl.ml",
    )
    assert seen.data_source == "csv:/prices"  # as the TickerModel's training Job gets it
    internal = "http://aapl-predictor.ml.svc.cluster.local"
    addressed = {
        **tm,
        "status": {**tm["status"], "inference": {"url": "http://aapl.ml", "address": internal}},
    }
    assert observe_ticker_model(addressed, SETTINGS).inference_url == internal  # the agent is a pod
    stale = observe_ticker_model({**tm, "metadata": {"name": "aapl", "generation": 3}}, SETTINGS)
    assert not stale.ready and stale.phase == "Pending"
    unserved = observe_ticker_model({**tm, "status": {**tm["status"], "mlflow": {}}}, SETTINGS)
    assert not unserved.ready
    default = observe_ticker_model({**tm, "spec": {"ticker": "AAPL"}}, SETTINGS)
    assert default.data_source == "synthetic"  # the operator's default


def test_agent_messages_parse_the_last_json_line_and_a_crash_is_an_error() -> None:
    text = "Traceback ...\n" + json.dumps(OK)
    parsed = parse_agent_message(text)
    assert parsed is not None and parsed.ok and parsed.stance == "NEUTRAL"
    assert parse_agent_message("") is None
    crash = parse_agent_message("Killed")
    assert crash is not None and not crash.ok and crash.failure_reason == "Error"
    odd = AgentResult(ok=False, reason="LLM Unavailable!")
    assert odd.failure_reason == "LLMUnavailable"  # always a reason the API server accepts
    assert artifact_location("runs:/r1/analysis/report.md", None) == ("r1", "analysis/report.md")
    assert artifact_location("analysis/report.md", "r2") == ("r2", "analysis/report.md")
    assert artifact_location(None, "r2") is None


# -- the Job ---------------------------------------------------------------------------------------------


def test_the_agent_job_is_restricted_has_no_token_and_takes_the_key_by_secret_key_ref() -> None:
    spec = AnalysisSpec.model_validate(
        {
            "tickerModelRef": {"name": "aapl"},
            "question": "Is a drop likely?",
            "llm": {"endpoint": "https://llm.example/v1", "model": "gpt-x", "secretRef": {"name": "llm"}},
        }
    )
    owner = Owner("Analysis", "aapl-outlook", "ml", "u1", 4)
    settings = SETTINGS.model_copy(
        update={"extra_env": {"STOCKOPS_NEWS_SOURCE": "none", "MLFLOW_TRACKING_URI": "x"}}
    )
    job = build_agent_job(owner, spec, MODEL, settings, job_name="aapl-outlook-an-g4-abc")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "stockops.agent"]
    assert (
        container["image"] == "docker.io/stockops/agent:0.1.0"
    )  # registry and release tag, like the trainer
    assert pod["automountServiceAccountToken"] is False and "serviceAccountName" not in pod
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
    }
    assert {v["name"] for v in pod["volumes"]} == {m["name"] for m in container["volumeMounts"]}
    env = env_of(job)
    assert env["STOCKOPS_LLM_API_KEY"] == {"secretKeyRef": {"name": "llm", "key": "apiKey"}}
    assert (env["STOCKOPS_LLM_ENDPOINT"], env["STOCKOPS_LLM_MODEL_NAME"]) == (
        "https://llm.example/v1",
        "gpt-x",
    )
    assert (env["STOCKOPS_AGENT_TICKER"], env["STOCKOPS_AGENT_QUESTION"]) == ("AAPL", "Is a drop likely?")
    assert (
        env["STOCKOPS_AGENT_MODEL_VERSION"] == "3" and env["STOCKOPS_PREDICTOR_URL"] == "http://aapl.ml.svc"
    )
    assert env["STOCKOPS_DATA_SOURCE"] == "csv:/data" and env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["STOCKOPS_SEMANTIC_CACHE"] == "off" and "STOCKOPS_QDRANT_URL" not in env  # no Qdrant here
    assert env["STOCKOPS_NEWS_SOURCE"] == "none"  # extra env, never overriding ours
    assert job["spec"]["backoffLimit"] == 2 and job["spec"]["activeDeadlineSeconds"] == 1800
    assert job["spec"]["ttlSecondsAfterFinished"] == SETTINGS.job_ttl_seconds
    fail_fast = job["spec"]["podFailurePolicy"]["rules"][0]
    assert fail_fast["action"] == "FailJob" and fail_fast["onExitCodes"]["values"] == [2]
    labels = job["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "analysis" and labels[OWNER_UID] == "u1"
    assert labels["stockops.io/generation"] == "4"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "Analysis"
    (key,) = [e for e in container["env"] if e["name"] == "STOCKOPS_LLM_API_KEY"]
    assert "value" not in key  # the operator names the Secret, never reads it

    keyed = AnalysisSpec.model_validate(
        {**spec.to_wire(), "llm": {"secretRef": {"name": "llm", "key": "token"}}}
    )
    assert env_of(build_agent_job(owner, keyed, MODEL, settings, job_name="j"))["STOCKOPS_LLM_API_KEY"] == {
        "secretKeyRef": {"name": "llm", "key": "token"}
    }
    cached = SETTINGS.model_copy(update={"qdrant_url": "http://qdrant:6333"})
    env = env_of(build_agent_job(owner, spec, MODEL, cached, job_name="j"))
    assert env["STOCKOPS_QDRANT_URL"] == "http://qdrant:6333" and "STOCKOPS_SEMANTIC_CACHE" not in env


def test_without_llm_settings_the_job_gets_no_llm_env_and_an_unserved_model_no_predictor() -> None:
    spec = AnalysisSpec.model_validate({"tickerModelRef": {"name": "aapl"}, "question": "q"})
    unserved = TickerModelObservation("aapl", "AAPL", "Ready", True, "stockops-aapl", "3", None, "auto")
    env = env_of(
        build_agent_job(Owner("Analysis", "a", "ml", "u1", 1), spec, unserved, SETTINGS, job_name="j")
    )
    assert not any(name.startswith("STOCKOPS_LLM_") for name in env)
    assert "STOCKOPS_PREDICTOR_URL" not in env and env["STOCKOPS_AGENT_MODEL_VERSION"] == "3"


# -- waiting ---------------------------------------------------------------------------------------------


def test_an_unknown_ticker_model_waits_with_a_clear_condition_and_no_job() -> None:
    cluster = FakeCluster()
    result = run(body(), cluster, model=None)
    assert cluster.jobs == {} and result.status.phase == "Pending"
    assert conditions(result.status) == {
        "ModelReady": ("False", "TickerModelNotFound"),
        "Answered": ("Unknown", "WaitingForModel"),
        "Ready": ("False", "TickerModelNotFound"),
    }
    ready = result.status.condition("ModelReady")
    assert ready is not None and "TickerModel 'aapl' not found" in ready.message
    assert [e.type for e in result.events if e.reason == "TickerModelNotFound"] == ["Warning"]
    assert not result.clock_dependent  # the index (a TickerModel appearing) wakes it, not the clock


def test_a_ticker_model_not_ready_waits_naming_its_phase_then_the_job_starts_once_it_is() -> None:
    cluster = FakeCluster()
    b = body()
    training = TickerModelObservation(
        "aapl", "AAPL", "Training", False, None, None, None, "auto", "Training", "epoch 1/2"
    )
    waiting = run(b, cluster, model=training)
    assert cluster.jobs == {} and waiting.status.phase == "Pending"
    assert conditions(waiting.status)["ModelReady"] == ("False", "ModelNotReady")
    message = waiting.status.condition("ModelReady").message  # type: ignore[union-attr]
    assert "is Training" in message and "epoch 1/2" in message
    assert all(e.type == "Normal" for e in waiting.events)  # waiting for a training is not a warning
    assert waiting.status.ticker == "AAPL"  # `kubectl get an` shows the ticker already
    assert waiting.status.job_name is None and waiting.status.attempt is None  # no Job yet

    started = run(b, cluster)
    name = analysis_job_name("aapl-outlook", "u1", 1)
    assert cluster.calls == [f"create_job {name}", f"pod_waiting {name}"]
    assert started.jobs_created == 1 and started.status.phase == "Running"
    assert started.status.model_version == "3" and started.status.job_name == name
    assert conditions(started.status)["ModelReady"] == ("True", "ModelReady")
    assert "JobCreated" in [e.reason for e in started.events]
    # the next pass finds the Job (the index) and creates nothing; a running pod is not polled
    running = run(b, cluster, **{name: {"active": 1, "ready": 1, "startTime": "2024-05-01T11:59:00Z"}})
    assert cluster.calls.count(f"create_job {name}") == 1 and running.jobs_created == 0
    assert conditions(running.status)["Answered"] == ("Unknown", "Running")
    assert running.status.attempt == 1 and running.status.model_version == "3"
    assert not running.clock_dependent


# -- answers ---------------------------------------------------------------------------------------------


def test_a_success_writes_the_report_config_map_and_the_answer_to_status() -> None:
    cluster = FakeCluster()
    b = body()
    run(b, cluster)
    (name,) = cluster.jobs
    cluster.messages[name] = "some log line\n" + json.dumps(OK)
    reports = FakeReports({("r123", "analysis/report.md"): REPORT})
    result = run(b, cluster, reports=reports, **{name: DONE})
    assert reports.asked == [("r123", "analysis/report.md")]
    cm = cluster.config_maps["aapl-outlook-report"]
    assert cm["data"]["report.md"] == REPORT
    assert json.loads(cm["data"]["result.json"])["stance"] == "NEUTRAL"
    assert cm["metadata"]["ownerReferences"][0]["uid"] == "u1" and cm["metadata"]["labels"][OWNER_UID] == "u1"
    status = result.status
    assert status.phase == "Ready"
    assert (status.ticker, status.stance, status.confidence) == ("AAPL", "NEUTRAL", "LOW")
    assert (status.model_name, status.model_version, status.data_date) == ("stockops-aapl", "3", "2024-04-30")
    assert (status.generator, status.cached, status.critic_score, status.revisions) == (
        "template",
        False,
        1.0,
        0,
    )
    assert status.cache is not None and status.cache.startswith("off: no Qdrant URL in this cluster")
    assert status.report is not None and status.report.config_map == "aapl-outlook-report"
    assert status.report.complete is True and status.report.artifact == "runs:/r123/analysis/report.md"
    assert status.report.uri == "http://mlflow:5000/get-artifact?path=analysis/report.md&run_uuid=r123"
    assert status.completion_time == "2024-05-01T11:59:30Z" and status.job_name == name
    assert conditions(status) == {
        "ModelReady": ("True", "ModelReady"),
        "Answered": ("True", "Answered"),
        "Ready": ("True", "Ready"),
    }
    assert "written by template" in status.condition("Answered").message  # type: ignore[union-attr]
    assert {"ReportWritten", "PhaseReady"} <= {e.reason for e in result.events}
    assert result.finished is not None and result.finished.name == name

    # the Job's TTL deletes it: the recorded answer stays, nothing is created or written again
    cluster.jobs.clear()
    later = run(b, cluster, reports=reports, now=NOW + dt.timedelta(days=2))
    assert later.patch == {} and later.events == [] and later.jobs_created == 0
    assert cluster.calls.count(f"create_job {name}") == 1 and len(reports.asked) == 1


def test_a_cache_hit_is_answered_from_cache() -> None:
    cluster = FakeCluster()
    b = body()
    run(b, cluster, settings=SETTINGS.model_copy(update={"qdrant_url": "http://qdrant:6333"}))
    (name,) = cluster.jobs
    cluster.messages[name] = json.dumps({**OK, "cached": True, "cache": "server"})
    reports = FakeReports({("r123", "analysis/report.md"): REPORT})
    settings = SETTINGS.model_copy(update={"qdrant_url": "http://qdrant:6333"})
    status = run(b, cluster, reports=reports, settings=settings, **{name: DONE}).status
    assert conditions(status)["Answered"] == ("True", "AnsweredFromCache")
    assert status.cached is True and status.cache == "server"


def test_a_report_mlflow_cannot_give_is_retried_then_written_as_summary_and_link() -> None:
    cluster = FakeCluster()
    b = body()
    run(b, cluster)
    (name,) = cluster.jobs
    cluster.messages[name] = json.dumps(OK)
    reports = FakeReports()  # MLflow has no answer for now
    fetching = run(b, cluster, reports=reports, **{name: DONE})
    assert fetching.status.phase == "Running" and cluster.config_maps == {}
    assert conditions(fetching.status)["Answered"] == ("Unknown", "FetchingReport")
    assert fetching.status.stance is None  # nothing is half-written
    assert fetching.clock_dependent  # retried on the next timer pass
    late = NOW + dt.timedelta(seconds=SETTINGS.report_grace_seconds + 5)
    written = run(b, cluster, reports=reports, now=late, **{name: DONE})
    assert len(reports.asked) == 2
    text = cluster.config_maps["aapl-outlook-report"]["data"]["report.md"]
    assert OK["summary"] in text and "could not fetch the full report" in text
    assert "get-artifact?path=analysis/report.md&run_uuid=r123" in text
    assert written.status.phase == "Ready" and written.status.report is not None
    assert written.status.report.complete is False
    assert "could not be fetched" in written.status.condition("Answered").message  # type: ignore[union-attr]


def test_a_config_map_of_that_name_that_is_not_ours_fails_the_analysis_and_is_left_alone() -> None:
    cluster = FakeCluster()
    theirs = {"metadata": {"name": "aapl-outlook-report", "labels": {}}, "data": {"x": "y"}}
    cluster.config_maps["aapl-outlook-report"] = theirs
    b = body()
    run(b, cluster)
    (name,) = cluster.jobs
    cluster.messages[name] = json.dumps(OK)
    result = run(b, cluster, reports=FakeReports({("r123", "analysis/report.md"): REPORT}), **{name: DONE})
    assert cluster.config_maps["aapl-outlook-report"] is theirs
    assert result.status.phase == "Failed" and conditions(result.status)["Answered"] == (
        "False",
        "ReportNameTaken",
    )
    assert result.status.stance is None


def test_a_succeeded_job_without_a_result_waits_then_fails_with_no_result() -> None:
    cluster = FakeCluster()
    b = body()
    run(b, cluster)
    (name,) = cluster.jobs
    waiting = run(b, cluster, **{name: DONE})
    assert conditions(waiting.status)["Answered"] == ("Unknown", "AwaitingResult")
    late = NOW + dt.timedelta(seconds=SETTINGS.result_grace_seconds + 5)
    failed = run(b, cluster, now=late, **{name: DONE})
    assert failed.status.phase == "Failed" and conditions(failed.status)["Answered"] == ("False", "NoResult")


# -- failures --------------------------------------------------------------------------------------------


def test_an_unreachable_llm_is_retried_then_failed_with_llm_unavailable_and_nothing_written() -> None:
    cluster = FakeCluster()
    b = body(llm={"endpoint": "http://127.0.0.1:9/v1"})
    run(b, cluster)
    (name,) = cluster.jobs
    unavailable = {
        "ok": False,
        "reason": "LLMUnavailable",
        "message": "the LLM at http://127.0.0.1:9/v1 did not answer",
    }
    cluster.messages[name] = json.dumps(unavailable)
    between = run(b, cluster, **{name: {"failed": 1}})  # the next pod is not there yet
    assert conditions(between.status)["Answered"] == ("Unknown", "Retrying")
    assert "attempt 1 failed (LLMUnavailable: " in between.status.condition("Answered").message  # type: ignore[union-attr]
    retrying = run(b, cluster, **{name: {"active": 1, "ready": 1, "failed": 1}})
    assert conditions(retrying.status)["Answered"] == ("Unknown", "Retrying")
    assert retrying.status.last_failure is not None and retrying.status.last_failure.startswith(
        "LLMUnavailable:"
    )
    warnings = [e for e in between.events + retrying.events if e.reason == "AttemptFailed"]
    assert len(warnings) == 1 and warnings[0].type == "Warning"
    again = run(b, cluster, **{name: {"active": 1, "ready": 1, "failed": 1}})
    assert "AttemptFailed" not in [e.reason for e in again.events]  # once per failed attempt

    failed = run(b, cluster, **{name: failed_job()})
    status = failed.status
    assert status.phase == "Failed" and cluster.config_maps == {}
    assert conditions(status)["Answered"] == ("False", "LLMUnavailable")
    assert conditions(status)["Ready"] == ("False", "LLMUnavailable")
    message = status.condition("Ready").message  # type: ignore[union-attr]
    assert "did not answer" in message and "3 attempt(s), BackoffLimitExceeded" in message
    assert status.stance is None and status.report is None and status.completion_time is not None
    assert any(e.type == "Warning" and e.reason == "PhaseFailed" for e in failed.events)


def test_bad_input_fails_at_once_with_the_agents_reason() -> None:
    cluster = FakeCluster()
    b = body()
    run(b, cluster)
    (name,) = cluster.jobs
    cluster.messages[name] = json.dumps(
        {"ok": False, "reason": "ModelNotFound", "message": "no production version"}
    )
    status = run(b, cluster, **{name: failed_job("PodFailurePolicy", failed=1)}).status
    assert status.phase == "Failed" and conditions(status)["Answered"] == ("False", "ModelNotFound")


def test_a_job_level_failure_without_a_message_names_the_jobs_reason() -> None:
    cluster = FakeCluster()
    b = body()
    run(b, cluster)
    (name,) = cluster.jobs
    status = run(b, cluster, **{name: failed_job("DeadlineExceeded", failed=1)}).status
    assert status.phase == "Failed" and conditions(status)["Answered"] == ("False", "DeadlineExceeded")


def test_a_secret_without_the_key_is_a_clear_condition_and_the_deadline_keeps_that_reason() -> None:
    cluster = FakeCluster()
    b = body(llm={"endpoint": "https://llm.example/v1", "secretRef": {"name": "llm"}})
    run(b, cluster)
    (name,) = cluster.jobs
    cluster.waiting[name] = ("CreateContainerConfigError", "couldn't find key apiKey in Secret ml/llm")
    blocked = run(b, cluster, **{name: {"active": 1, "ready": 0}})
    assert blocked.status.phase == "Pending"
    assert conditions(blocked.status)["Answered"] == ("False", "SecretKeyMissing")
    message = blocked.status.condition("Answered").message  # type: ignore[union-attr]
    assert "add key 'apiKey'" in message and "Secret 'llm'" in message
    assert any(e.type == "Warning" and e.reason == "SecretKeyMissing" for e in blocked.events)
    assert blocked.clock_dependent  # the pod is re-read: the key may be added
    # the key is added and the pod starts: the condition clears
    del cluster.waiting[name]
    fixed = run(b, cluster, **{name: {"active": 1, "ready": 1}})
    assert conditions(fixed.status)["Answered"] == ("Unknown", "Running")
    # or it never is, and the Job's deadline passes: the cause stays the reason
    cluster.waiting[name] = ("CreateContainerConfigError", "couldn't find key apiKey in Secret ml/llm")
    run(b, cluster, **{name: {"active": 1, "ready": 0}})
    failed = run(b, cluster, **{name: failed_job("DeadlineExceeded", failed=1)})
    assert failed.status.phase == "Failed" and conditions(failed.status)["Answered"] == (
        "False",
        "SecretKeyMissing",
    )
    assert "DeadlineExceeded" in failed.status.condition("Ready").message  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("reason", "message", "expected"),
    [
        ("CreateContainerConfigError", 'secret "llm" not found', "SecretNotFound"),
        ("ImagePullBackOff", "Back-off pulling image", "ImagePullBackOff"),
        ("ContainerCreating", "", None),
    ],
)
def test_pod_waiting_states_become_problems_or_progress(
    reason: str, message: str, expected: str | None
) -> None:
    spec = AnalysisSpec.model_validate(
        {"tickerModelRef": {"name": "aapl"}, "question": "q", "llm": {"secretRef": {"name": "llm"}}}
    )
    problem = classify_pod_waiting(reason, message, spec)
    assert (problem.reason if problem else None) == expected


# -- spec changes ----------------------------------------------------------------------------------------


def test_a_spec_change_gets_a_new_job_and_answer_and_the_old_unfinished_job_is_deleted() -> None:
    cluster = FakeCluster()
    b = body()
    run(b, cluster)
    (old,) = cluster.jobs
    cluster.messages[old] = json.dumps(OK)
    reports = FakeReports({("r123", "analysis/report.md"): REPORT})
    answered = run(b, cluster, reports=reports, **{old: DONE})
    assert answered.status.phase == "Ready"

    b["metadata"]["generation"] = 2
    b["spec"]["question"] = "And next month?"
    second = run(b, cluster, reports=reports, **{old: DONE})
    new = analysis_job_name("aapl-outlook", "u1", 2)
    assert f"create_job {new}" in cluster.calls and f"delete_job {old}" not in cluster.calls  # finished: TTL
    assert env_of(cluster.jobs[new])["STOCKOPS_AGENT_QUESTION"] == "And next month?"
    assert second.status.phase == "Running" and second.status.observed_generation == 2
    assert second.status.stance is None  # the old answer answered another question

    b["metadata"]["generation"] = 3
    b["spec"]["question"] = "And next year?"
    third = run(b, cluster, reports=reports, **{old: DONE, new: {"active": 1, "ready": 1}})
    assert f"delete_job {new}" in cluster.calls and "JobSuperseded" in [e.reason for e in third.events]
    assert third.status.job_name == analysis_job_name("aapl-outlook", "u1", 3)


def test_a_report_config_map_keeps_the_result_and_is_owned() -> None:
    owner = Owner("Analysis", "aapl-outlook", "ml", "u1", 2)
    result = AgentResult.model_validate(OK)
    cm = build_report_config_map(
        owner, name="aapl-outlook-report", result=result, report=REPORT, mlflow_ui=None
    )
    assert cm["kind"] == "ConfigMap" and cm["metadata"]["namespace"] == "ml"
    assert cm["metadata"]["ownerReferences"] == [owner.reference()]
    assert cm["metadata"]["labels"]["app.kubernetes.io/component"] == "report"
    assert cm["metadata"]["labels"]["stockops.io/generation"] == "2"
    assert json.loads(cm["data"]["result.json"]) == result.wire()
    assert cm["metadata"]["annotations"]["stockops.io/report-complete"] == "true"


# -- the controller --------------------------------------------------------------------------------------


def test_the_controller_writes_the_status_posts_events_and_counts_analyses_by_phase() -> None:
    from prometheus_client import generate_latest

    from stockops.operator.controller import Controller
    from stockops.operator.metrics import OperatorMetrics

    cluster = FakeCluster()
    metrics = OperatorMetrics()
    posted: list[str] = []
    controller = Controller(
        cluster=cluster,  # type: ignore[arg-type]
        progress=None,  # type: ignore[arg-type]  # Analyses read no training progress
        settings=SETTINGS,
        metrics=metrics,
        post_event=lambda body, event: posted.append(event.reason),
        clock=lambda: NOW,
        reports=FakeReports(),
    )
    text = generate_latest(metrics.registry).decode()
    assert 'stockops_operator_objects{kind="Analysis",phase="Running"} 0.0' in text
    b = body()
    b["metadata"]["resourceVersion"] = "1"
    result = controller.run_analysis(b, AnalysisObserved(model=None), "create")
    assert result is not None and "patch_status Analysis/aapl-outlook" in cluster.calls
    assert "PhasePending" in posted
    # an idle timer pass with the same inputs is skipped; the TickerModel turning Ready wakes it
    assert controller.run_analysis(b, AnalysisObserved(model=None), "timer") is None
    started = controller.run_analysis(b, AnalysisObserved(model=MODEL), "timer")
    assert started is not None and started.jobs_created == 1
    text = generate_latest(metrics.registry).decode()
    assert 'stockops_operator_objects{kind="Analysis",phase="Running"} 1.0' in text
    assert 'stockops_operator_jobs_created_total{kind="Analysis"} 1.0' in text
    cluster.config_maps["aapl-outlook-report"] = {"metadata": {"labels": {OWNER_UID: "u1"}}}
    assert controller.cleanup("Analysis", "ml", "aapl-outlook", "u1") == ["ConfigMap/aapl-outlook-report"]
    text = generate_latest(metrics.registry).decode()
    assert 'stockops_operator_objects{kind="Analysis",phase="Running"} 0.0' in text
