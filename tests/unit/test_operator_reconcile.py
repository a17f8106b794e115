"""One reconcile pass against an in-memory `Cluster`.

The fake below implements our own `Cluster` port (not a Kubernetes mock): it records what the pass
asked for, so these tests pin the decisions (create once, supersede, suspend, serve). The same code
runs against a real kube-apiserver in tests/e2e.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from stockops.operator.builders import Owner, training_identity
from stockops.operator.naming import job_name
from stockops.operator.observations import (
    InferenceServiceObservation,
    JobObservation,
    ParentObservation,
    RolloutObservation,
    TrainingProgress,
    observe_inference_service,
    observe_job,
)
from stockops.operator.reconcile import Observed, Resource, desired_training, reconcile
from stockops.operator.settings import OperatorSettings

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
OWNER_UID = "stockops.io/owner-uid"
SETTINGS = OperatorSettings(mlflow_tracking_uri="http://mlflow:5000", data_source="synthetic")
READY_PARENT = ParentObservation("gspc", "^GSPC", "Ready", True, "stockops-gspc", "2")
OK_MESSAGE = json.dumps(
    {
        "ok": True,
        "ticker": "AAPL",
        "model_name": "stockops-aapl",
        "model_version": "5",
        "run_id": "abc",
        "promoted": True,
        "promotion_reason": "passed",
        "metrics": {"rmse": 1.0, "naive_rmse": 1.1, "skill": 0.09},
        "synthetic": False,
    }
)


class InMemoryCluster:
    """Records calls; Jobs and InferenceServices live in dicts keyed by name."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.isvcs: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.suspended: dict[str, bool] = {}
        self.status_patches: list[dict[str, Any]] = []
        self.config_maps: dict[str, dict[str, Any]] = {}
        # the predictor rollout per InferenceService; absent: rolled out at once to its current version
        self.rollouts: dict[str, RolloutObservation] = {}

    def create_job(self, manifest: dict[str, Any]) -> JobObservation:
        self.calls.append(f"create_job {manifest['metadata']['name']}")
        self.jobs.setdefault(manifest["metadata"]["name"], manifest)
        return observe_job(manifest)

    def delete_job(self, namespace: str, name: str) -> None:
        self.calls.append(f"delete_job {name}")
        self.jobs.pop(name, None)

    def set_job_suspended(self, namespace: str, name: str, suspended: bool) -> None:
        self.calls.append(f"suspend {name} {suspended}")
        self.suspended[name] = suspended

    def termination_message(self, namespace: str, job_name: str) -> str | None:
        self.calls.append(f"pods {job_name}")
        return None

    def pod_waiting(self, namespace: str, job_name: str) -> tuple[str, str] | None:
        self.calls.append(f"pod_waiting {job_name}")
        return None

    def apply_config_map(self, manifest: dict[str, Any]) -> None:
        self.calls.append(f"apply_config_map {manifest['metadata']['name']}")
        self.config_maps[manifest["metadata"]["name"]] = manifest

    def create_inference_service(self, manifest: dict[str, Any]) -> InferenceServiceObservation:
        self.calls.append(f"create_isvc {manifest['metadata']['name']}")
        self.isvcs[manifest["metadata"]["name"]] = manifest
        return observe_inference_service(manifest)

    def update_inference_service(self, manifest: dict[str, Any]) -> InferenceServiceObservation:
        name = manifest["metadata"]["name"]
        self.calls.append(f"update_isvc {name}")
        # a patch keeps the status KServe wrote (the old pods' Ready), as the API server's answer does
        self.isvcs[name] = {**manifest, "status": self.isvcs.get(name, {}).get("status", {})}
        return observe_inference_service(self.isvcs[name])

    def delete_inference_service(self, namespace: str, name: str) -> None:
        self.calls.append(f"delete_isvc {name}")
        self.isvcs.pop(name, None)

    def predictor_rollout(self, namespace: str, isvc: InferenceServiceObservation) -> RolloutObservation:
        self.calls.append(f"rollout {isvc.name}")
        return self.rollouts.get(isvc.name) or RolloutObservation(isvc.model_version, True, "rolled out")

    def patch_status(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.status_patches.append(patch)

    def delete_owned(self, namespace: str, owner_uid: str) -> list[str]:
        owned = [
            n for n, m in self.config_maps.items() if m["metadata"]["labels"].get(OWNER_UID) == owner_uid
        ]
        for name in owned:
            del self.config_maps[name]
        return [f"ConfigMap/{name}" for name in owned]


class NoProgress:
    def __init__(self, progress: TrainingProgress | None = None) -> None:
        self.value = progress
        self.asked: list[str] = []
        self.forgotten: list[str] = []

    def progress(self, job_name: str) -> TrainingProgress | None:
        self.asked.append(job_name)
        return self.value

    def forget(self, job_name: str) -> None:
        self.forgotten.append(job_name)


def body(kind: str = "TickerModel", generation: int = 1, status: dict | None = None, **spec: Any) -> dict:
    base_spec = (
        {"ticker": "AAPL", "parentRef": {"name": "gspc"}} if kind == "TickerModel" else {"ticker": "^GSPC"}
    )
    return {
        "metadata": {"name": "aapl" if kind == "TickerModel" else "gspc", "namespace": "ml", "uid": "u1",
                     "generation": generation, "annotations": spec.pop("annotations", {})},
        "spec": {**base_spec, **spec},
        "status": status or {},
    }  # fmt: skip


def run(b: dict, observed: Observed, cluster: InMemoryCluster, progress: NoProgress | None = None, now=NOW):
    kind = "TickerModel" if "parentRef" in b["spec"] else "ParentModel"
    resource = Resource.from_body(kind, b)
    result = reconcile(resource, observed, cluster, progress or NoProgress(), SETTINGS, now)
    b["status"] = result.status.to_wire()
    return result


def observed_jobs(cluster: InMemoryCluster, **status: Any) -> tuple[JobObservation, ...]:
    out = []
    for manifest in cluster.jobs.values():
        out.append(observe_job({**manifest, "status": status.get(manifest["metadata"]["name"], {})}))
    return tuple(out)


def test_child_waits_without_a_job_and_says_why() -> None:
    cluster = InMemoryCluster()
    not_ready = ParentObservation("gspc", "^GSPC", "Training", False, None, None)
    result = run(body(), Observed(parent=not_ready), cluster)
    assert cluster.calls == []
    assert result.waiting_for_parent is not None and "gspc" in result.waiting_for_parent
    assert result.status.phase == "WaitingForParent"


def test_child_creates_one_job_pinned_to_the_parent_version_then_finds_it() -> None:
    cluster = InMemoryCluster()
    b = body()
    first = run(b, Observed(parent=READY_PARENT), cluster)
    expected = job_name("aapl", "u1", training_identity(Resource.from_body("TickerModel", b).spec), "p2")
    assert cluster.calls == [f"create_job {expected}"]
    assert first.jobs_created == 1 and first.waiting_for_parent is None
    assert first.events[0].reason == "JobCreated"
    # the next pass (timer, restart) sees the Job in the index and creates nothing
    second = run(b, Observed(jobs=observed_jobs(cluster), parent=READY_PARENT), cluster)
    assert cluster.calls == [f"create_job {expected}"]
    assert second.jobs_created == 0
    # and a restart that has not seen the Job yet is answered by the deterministic name (create = find)
    run(body(status=b["status"]), Observed(parent=READY_PARENT), cluster)
    assert len(cluster.jobs) == 1


def test_progress_is_read_while_running_and_written_only_on_change() -> None:
    cluster = InMemoryCluster()
    b = body(kind="ParentModel")
    run(b, Observed(), cluster)
    (name,) = cluster.jobs
    progress = NoProgress(TrainingProgress(2, 4, 50))
    running = run(b, Observed(jobs=observed_jobs(cluster, **{name: {"active": 1}})), cluster, progress)
    assert progress.asked == [name]
    assert running.status.training is not None and running.status.training.progress_percent == 50
    assert running.patch  # changed
    again = run(b, Observed(jobs=observed_jobs(cluster, **{name: {"active": 1}})), cluster, progress)
    assert again.patch == {} and again.events == []
    assert progress.forgotten == []
    cluster.jobs[name]["metadata"]["annotations"]["stockops.io/termination-message"] = OK_MESSAGE
    done = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    run(b, Observed(jobs=observed_jobs(cluster, **{name: done})), cluster, progress)
    assert progress.forgotten == [name]  # a finished Job's cached run id is dropped
    assert progress.asked == [name, name]  # ... and its progress is not read again


def test_success_reads_the_termination_annotation_and_serves_the_version() -> None:
    cluster = InMemoryCluster()
    b = body()
    run(b, Observed(parent=READY_PARENT), cluster)
    (name,) = cluster.jobs
    cluster.jobs[name]["metadata"]["annotations"]["stockops.io/termination-message"] = OK_MESSAGE
    done = {"succeeded": 1, "completionTime": "2024-05-01T11:59:00Z",
            "conditions": [{"type": "Complete", "status": "True"}]}  # fmt: skip
    result = run(b, Observed(jobs=observed_jobs(cluster, **{name: done}), parent=READY_PARENT), cluster)
    assert f"pods {name}" not in cluster.calls  # the annotation was enough
    assert "create_isvc aapl" in cluster.calls
    isvc = cluster.isvcs["aapl"]
    env = {e["name"]: e.get("value") for e in isvc["spec"]["predictor"]["containers"][0]["env"]}
    assert (env["STOCKOPS_MODEL_NAME"], env["STOCKOPS_MODEL_VERSION"]) == ("stockops-aapl", "5")
    assert result.status.phase == "Deploying"
    assert result.finished is not None and result.finished.name == name

    # KServe reports Ready with a URL -> the TickerModel is Ready with the URL.
    address = "http://aapl-predictor.ml.svc.cluster.local"
    isvc_ready = observe_inference_service(
        {
            **isvc,
            "status": {
                "url": "http://aapl.ml",
                "address": {"url": address},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
    )
    ready = run(
        b,
        Observed(jobs=observed_jobs(cluster, **{name: done}), parent=READY_PARENT, isvc=isvc_ready),
        cluster,
    )
    assert ready.status.phase == "Ready"
    assert ready.status.inference is not None and ready.status.inference.url == "http://aapl.ml"
    assert ready.status.inference.address == address  # what pods call: the predictor Service
    assert cluster.calls.count("create_isvc aapl") == 1 and "update_isvc aapl" not in cluster.calls


def test_termination_message_falls_back_to_pods() -> None:
    cluster = InMemoryCluster()
    b = body(kind="ParentModel")
    run(b, Observed(), cluster)
    (name,) = cluster.jobs
    failed = {
        "failed": 1,
        "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
    }
    result = run(b, Observed(jobs=observed_jobs(cluster, **{name: failed})), cluster)
    assert f"pods {name}" in cluster.calls
    assert result.status.phase == "Failed"


def test_spec_change_supersedes_the_running_job() -> None:
    cluster = InMemoryCluster()
    b = body(kind="ParentModel")
    run(b, Observed(), cluster)
    (old,) = cluster.jobs
    # a serving-only edit keeps the running Job ...
    b["metadata"]["generation"] = 2
    b["spec"]["promotion"] = {"minSkill": 0.05}
    same = run(b, Observed(jobs=observed_jobs(cluster, **{old: {"active": 1}})), cluster)
    assert cluster.calls == [f"create_job {old}"] and same.status.observed_generation == 2
    # ... a model edit supersedes it
    b["metadata"]["generation"] = 3
    b["spec"]["training"] = {"epochs": 7}
    result = run(b, Observed(jobs=observed_jobs(cluster, **{old: {"active": 1}})), cluster)
    new = job_name("gspc", "u1", training_identity(Resource.from_body("ParentModel", b).spec))
    assert cluster.calls[-2:] == [f"delete_job {old}", f"create_job {new}"]
    assert result.status.observed_generation == 3
    assert "JobSuperseded" in [e.reason for e in result.events]
    assert result.status.training is not None and result.status.training.reason == "SpecChanged"


def test_suspend_suspends_the_running_job_and_resume_resumes_it() -> None:
    cluster = InMemoryCluster()
    b = body(kind="ParentModel")
    run(b, Observed(), cluster)
    (name,) = cluster.jobs
    b["spec"]["suspend"] = True
    result = run(b, Observed(jobs=observed_jobs(cluster, **{name: {"active": 1}})), cluster)
    assert cluster.calls[-1] == f"suspend {name} True"
    assert result.status.phase == "Suspended"
    cluster.jobs[name]["spec"]["suspend"] = True
    b["spec"]["suspend"] = False
    run(b, Observed(jobs=observed_jobs(cluster)), cluster)
    assert cluster.calls[-1] == f"suspend {name} False"


def test_suspended_resource_starts_no_job() -> None:
    cluster = InMemoryCluster()
    result = run(body(kind="ParentModel", suspend=True), Observed(), cluster)
    assert cluster.calls == [] and result.status.phase == "Suspended"


def test_parent_change_retrains_only_when_asked() -> None:
    trained = {
        "observedGeneration": 1,
        "parent": {"name": "gspc", "modelVersion": "2"},
        "training": {"jobName": "x"},
    }
    newer = ParentObservation("gspc", "^GSPC", "Ready", True, "stockops-gspc", "3")
    keep = desired_training(Resource.from_body("TickerModel", body(status=trained)), newer, NOW)
    assert keep.parent_version == "2"
    follow = desired_training(
        Resource.from_body("TickerModel", body(status=trained, retrain={"onParentChange": True})), newer, NOW
    )
    assert follow.parent_version == "3" and follow.job_name != keep.job_name


def test_retrain_annotation_and_schedule_start_new_jobs() -> None:
    status = {
        "observedGeneration": 1,
        "training": {"jobName": "x", "completionTime": "2024-05-01T08:00:00Z"},
    }
    base = desired_training(
        Resource.from_body("ParentModel", body(kind="ParentModel", status=status)), None, NOW
    )
    poked = desired_training(
        Resource.from_body(
            "ParentModel", body(kind="ParentModel", status=status, annotations={"stockops.io/retrain": "2"})
        ),
        None,
        NOW,
    )
    assert poked.job_name != base.job_name and poked.retrain_request == "2"
    daily = body(kind="ParentModel", status=status, retrain={"schedule": "0 10 * * *"})
    scheduled = desired_training(Resource.from_body("ParentModel", daily), None, NOW)
    assert scheduled.scheduled_at == "2024-05-01T10:00:00Z" and scheduled.job_name != base.job_name
    # once that training finished after the firing, the same Job stays the desired one
    status["training"] = {"jobName": scheduled.job_name, "completionTime": "2024-05-01T10:30:00Z",
                          "scheduledAt": "2024-05-01T10:00:00Z"}  # fmt: skip
    daily = body(kind="ParentModel", status=status, retrain={"schedule": "0 10 * * *"})
    assert (
        desired_training(Resource.from_body("ParentModel", daily), None, NOW).job_name == scheduled.job_name
    )


def test_disabling_serving_deletes_the_inference_service() -> None:
    cluster = InMemoryCluster()
    status = {
        "observedGeneration": 1,
        "mlflow": {"modelName": "stockops-aapl", "modelVersion": "5", "servingVersion": "5"},
    }
    isvc = InferenceServiceObservation("aapl", True, "http://aapl", "5")
    run(body(status=status, serving={"enabled": False}), Observed(parent=READY_PARENT, isvc=isvc), cluster)
    assert "delete_isvc aapl" in cluster.calls


def test_a_version_patched_into_the_isvc_serves_once_the_predictor_rolled_out() -> None:
    """The patch to version 6 leaves version 5 serving (Ready stays True on the old pods); only the
    predictor Deployment's finished rollout makes 6 count, and the pass is re-run until it does."""
    from stockops.operator.controller import _clock_dependent

    cluster = InMemoryCluster()
    ready = {"url": "http://aapl", "conditions": [{"type": "Ready", "status": "True"}]}
    cluster.isvcs["aapl"] = {"metadata": {"name": "aapl"}, "status": ready}
    status = {
        "observedGeneration": 1,
        "mlflow": {"modelName": "stockops-aapl", "modelVersion": "6", "servingVersion": "6"},
        "inference": {"name": "aapl", "modelVersion": "5", "ready": True, "url": "http://aapl"},
    }
    b = body(status=status)
    five = InferenceServiceObservation("aapl", True, "http://aapl", "5")

    patched = run(b, Observed(parent=READY_PARENT, isvc=five), cluster)
    assert "update_isvc aapl" in cluster.calls and "rollout aapl" not in cluster.calls
    inference = patched.status.inference
    assert inference is not None and (inference.model_version, inference.rolling_out_version) == ("5", "6")
    assert patched.status.condition("ServingReady").reason == "RollingOut"  # type: ignore[union-attr]
    assert patched.status.condition("Ready").status == "True"  # type: ignore[union-attr]
    resource = Resource.from_body("TickerModel", b)
    assert _clock_dependent(resource, patched)  # re-checked: the Deployment may finish silently

    cluster.rollouts["aapl"] = RolloutObservation("6", False, "1 old replicas pending termination")
    index = observe_inference_service(cluster.isvcs["aapl"])
    stuck = run(b, Observed(parent=READY_PARENT, isvc=index), cluster)
    assert cluster.calls.count("rollout aapl") == 1 and cluster.calls.count("update_isvc aapl") == 1
    assert stuck.status.inference is not None and stuck.status.inference.model_version == "5"
    message = stuck.status.condition("ServingReady").message  # type: ignore[union-attr]
    assert "rolling out version 6: 1 old replicas pending termination" in message

    del cluster.rollouts["aapl"]  # the new pods turned Ready
    rolled = run(b, Observed(parent=READY_PARENT, isvc=index), cluster)
    inference = rolled.status.inference
    assert inference is not None and (inference.model_version, inference.rolling_out_version) == ("6", None)
    assert rolled.status.condition("ServingReady").status == "True"  # type: ignore[union-attr]
    assert not _clock_dependent(Resource.from_body("TickerModel", b), rolled)

    run(b, Observed(parent=READY_PARENT, isvc=index), cluster)
    assert cluster.calls.count("rollout aapl") == 2  # steady: the Deployment is not read again


def test_owner_reference_points_at_the_resource() -> None:
    owner = Resource.from_body("ParentModel", body(kind="ParentModel", generation=7)).owner
    assert owner == Owner("ParentModel", "gspc", "ml", "u1", 7)


def test_controller_reports_a_transition_once_even_from_a_stale_body() -> None:
    from stockops.operator.controller import Controller
    from stockops.operator.metrics import OperatorMetrics

    cluster = InMemoryCluster()
    posted: list[str] = []
    controller = Controller(
        cluster,
        NoProgress(),
        SETTINGS,
        OperatorMetrics(),
        lambda body, event: posted.append(event.reason),
        lambda: NOW,
    )
    stale = body(kind="ParentModel")  # the timer's copy has not seen the status written by the first pass
    first = controller.run("ParentModel", stale, Observed(), "create")
    assert first.patch and len(cluster.status_patches) == 1
    assert "JobCreated" in posted and "PhasePending" in posted
    second = controller.run("ParentModel", stale, Observed(jobs=observed_jobs(cluster)), "timer")
    assert second.patch == {} and second.events == []
    assert len(cluster.status_patches) == 1 and len(cluster.jobs) == 1
    assert posted.count("PhasePending") == 1
    # nothing changed since: an idle timer pass is skipped without reconciling
    assert controller.run("ParentModel", stale, Observed(jobs=observed_jobs(cluster)), "timer") is None
    running = observed_jobs(cluster, **{next(iter(cluster.jobs)): {"active": 1}})
    assert controller.run("ParentModel", stale, Observed(jobs=running), "timer") is not None


def test_an_unparseable_spec_fails_permanently_with_the_fields_named_once_per_generation() -> None:
    from stockops.operator.controller import Controller, InvalidSpecError
    from stockops.operator.metrics import OperatorMetrics

    cluster = InMemoryCluster()
    posted: list[str] = []
    controller = Controller(
        cluster, NoProgress(), SETTINGS, OperatorMetrics(), lambda b, e: posted.append(e.reason), lambda: NOW
    )
    bad = body(kind="ParentModel", training={"epochs": 0})  # the CRD would refuse it; an old CRD may not
    with pytest.raises(InvalidSpecError, match=r"spec\.training\.epochs"):
        controller.run("ParentModel", bad, Observed(), "create")
    (patch,) = cluster.status_patches
    (ready,) = patch["conditions"]
    assert patch["phase"] == "Failed" and (ready["type"], ready["status"]) == ("Ready", "False")
    assert ready["reason"] == "InvalidSpec" and "spec.training.epochs" in ready["message"]
    assert posted == ["InvalidSpec"] and cluster.jobs == {}  # nothing was created
    bad["status"] = patch  # the next pass sees what was written: no second write or Event
    with pytest.raises(InvalidSpecError):
        controller.run("ParentModel", bad, Observed(), "timer")
    assert len(cluster.status_patches) == 1 and posted == ["InvalidSpec"]


def _served(cluster: InMemoryCluster, b: dict) -> str:
    """Train and serve `b` (version 5); returns the training Job's name."""
    run(b, Observed(parent=READY_PARENT), cluster)
    (name,) = cluster.jobs
    cluster.jobs[name]["metadata"]["annotations"]["stockops.io/termination-message"] = OK_MESSAGE
    run(b, Observed(jobs=observed_jobs(cluster, **{name: DONE}), parent=READY_PARENT), cluster)
    return name


DONE = {"succeeded": 1, "completionTime": "2024-05-01T11:59:00Z",
        "conditions": [{"type": "Complete", "status": "True"}]}  # fmt: skip
DRIFTED_RESULT = json.dumps(
    {
        "ok": True,
        "model_name": "stockops-aapl",
        "model_version": "5",
        "run_id": "mon1",
        "drift": {"checkedAt": "2024-05-02T21:31:00Z", "verdict": "Drifted", "share": 1.0,
                  "testedFeatures": 2, "driftedFeatures": ["log_return", "range"]},
        "live": {"checkedAt": "2024-05-02T21:31:00Z", "verdict": "InsufficientData", "forecasts": 2},
    }
)  # fmt: skip


def test_a_drift_check_runs_on_request_and_a_drifted_verdict_retrains_once() -> None:
    cluster = InMemoryCluster()
    b = body(retrain={"onDrift": True, "minIntervalMinutes": 60})
    trained = _served(cluster, b)
    later = NOW + dt.timedelta(days=1, hours=10)
    b["metadata"]["annotations"]["stockops.io/monitor"] = "1"
    jobs = lambda **states: Observed(jobs=observed_jobs(cluster, **states), parent=READY_PARENT)  # noqa: E731

    started = run(b, jobs(**{trained: DONE}), cluster, now=later)
    (check,) = [n for n in cluster.jobs if n != trained]
    manifest = cluster.jobs[check]
    assert manifest["metadata"]["labels"]["app.kubernetes.io/component"] == "monitor"
    assert manifest["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "python", "-m", "stockops.monitoring.job"
    ]  # fmt: skip
    assert started.status.monitoring is not None and started.status.monitoring.job_name == check
    assert "CheckStarted" in [e.reason for e in started.events]
    assert started.status.phase == "Ready" or started.status.phase == "Deploying"  # serving is untouched

    # the check runs: nothing else starts, the training Job is not "superseded" by it
    run(b, jobs(**{trained: DONE, check: {"active": 1}}), cluster, now=later)
    assert f"delete_job {check}" not in cluster.calls and len(cluster.jobs) == 2

    manifest["metadata"]["annotations"]["stockops.io/termination-message"] = DRIFTED_RESULT
    finished = {**DONE, "completionTime": "2024-05-02T21:32:00Z"}
    recorded = run(b, jobs(**{trained: DONE, check: finished}), cluster, now=later)
    drifted = recorded.status.condition("Drifted")
    assert drifted is not None and (drifted.status, drifted.reason) == ("True", "InputDrift")
    assert recorded.check_verdicts == (("drift", "Drifted"), ("live", "InsufficientData"))
    warning = [e for e in recorded.events if e.reason == "InputDrift"]
    assert warning and warning[0].type == "Warning"
    assert recorded.status.monitoring is not None and recorded.status.monitoring.drift is not None
    assert recorded.status.monitoring.drift.run_id == "mon1"

    retrain = run(b, jobs(**{trained: DONE, check: finished}), cluster, now=later)
    (new,) = [n for n in cluster.jobs if n not in (trained, check)]
    assert retrain.training_reason == "Drift" and "-d202405022131-" in new
    assert retrain.status.training is not None and retrain.status.training.reason == "Drift"
    created = [e for e in retrain.events if e.reason == "JobCreated"]
    assert created and "(reason Drift)" in created[0].message

    # while it trains, the same Job stays desired; once recorded, the old verdict cannot retrain again
    run(b, jobs(**{trained: DONE, check: finished, new: {"active": 1}}), cluster, now=later)
    cluster.jobs[new]["metadata"]["annotations"]["stockops.io/termination-message"] = OK_MESSAGE.replace(
        '"model_version": "5"', '"model_version": "6"'
    )
    newer = {**DONE, "completionTime": "2024-05-02T23:00:00Z"}
    states = {trained: DONE, check: finished, new: newer}
    run(b, jobs(**states), cluster, now=later + dt.timedelta(hours=3))
    run(b, jobs(**states), cluster, now=later + dt.timedelta(days=3))
    assert len(cluster.jobs) == 3 and cluster.calls.count(f"create_job {new}") == 1


def test_a_ticker_without_monitoring_never_starts_a_check() -> None:
    cluster = InMemoryCluster()
    b = body()
    trained = _served(cluster, b)
    result = run(b, Observed(jobs=observed_jobs(cluster, **{trained: DONE}), parent=READY_PARENT), cluster,
                 now=NOW + dt.timedelta(days=30))  # fmt: skip
    assert list(cluster.jobs) == [trained]
    drifted = result.status.condition("Drifted")
    assert drifted is not None and (drifted.status, drifted.reason) == ("Unknown", "NotChecked")


def test_controller_exports_model_gauges_retrains_and_check_verdicts() -> None:
    from stockops.operator.controller import Controller
    from stockops.operator.metrics import OperatorMetrics

    cluster = InMemoryCluster()
    metrics = OperatorMetrics()
    clock = [NOW]
    controller = Controller(
        cluster, NoProgress(), SETTINGS, metrics, lambda body, event: None, lambda: clock[0]
    )
    b = body(retrain={"onDrift": True, "minIntervalMinutes": 60})
    b["metadata"]["resourceVersion"] = "1"

    def sample(series: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(series, labels)

    def step(states: dict, version: str) -> None:
        b["metadata"]["resourceVersion"] = version
        result = controller.run(
            "TickerModel", b, Observed(jobs=observed_jobs(cluster, **states), parent=READY_PARENT), "timer"
        )
        assert result is not None
        b["status"] = result.status.to_wire()

    step({}, "1")
    (trained,) = cluster.jobs
    cluster.jobs[trained]["metadata"]["annotations"]["stockops.io/termination-message"] = OK_MESSAGE
    step({trained: DONE}, "2")
    ids = {"namespace": "ml", "name": "aapl", "ticker": "AAPL"}
    assert sample("stockops_model_test_skill", **ids) == pytest.approx(0.09)
    assert sample("stockops_operator_retrains_total", kind="TickerModel", reason="Drift") == 0

    clock[0] = NOW + dt.timedelta(days=1, hours=10)
    b["metadata"]["annotations"]["stockops.io/monitor"] = "1"
    step({trained: DONE}, "3")
    (check,) = [n for n in cluster.jobs if n != trained]
    cluster.jobs[check]["metadata"]["annotations"]["stockops.io/termination-message"] = DRIFTED_RESULT
    step({trained: DONE, check: DONE}, "4")
    assert sample("stockops_operator_monitor_checks_total", kind="drift", verdict="Drifted") == 1
    assert sample("stockops_model_drift_share", **ids) == 1.0
    step({trained: DONE, check: DONE}, "5")
    assert sample("stockops_operator_retrains_total", kind="TickerModel", reason="Drift") == 1
    controller.cleanup("TickerModel", "ml", "aapl", "u1")
    assert sample("stockops_model_test_skill", **ids) is None


def test_a_failed_attempt_is_visible_while_the_job_retries() -> None:
    cluster = InMemoryCluster()
    failure = json.dumps(
        {"ok": False, "reason": "MlflowUnavailable", "message": "http://mlflow:5000 unreachable"}
    )
    cluster.termination_message = lambda namespace, job_name: (  # type: ignore[method-assign]
        cluster.calls.append(f"pods {job_name}") or failure
    )
    b = body(kind="ParentModel")
    run(b, Observed(), cluster)
    (name,) = cluster.jobs
    retrying = Observed(jobs=observed_jobs(cluster, **{name: {"active": 1, "failed": 1}}))
    first = run(b, retrying, cluster)
    trained = first.status.condition("Trained")
    assert trained is not None and trained.reason == "Retrying"
    assert "attempt 1 failed (MlflowUnavailable: http://mlflow:5000 unreachable)" in trained.message
    warnings = [e for e in first.events if e.reason == "AttemptFailed"]
    assert len(warnings) == 1 and warnings[0].type == "Warning" and "MlflowUnavailable" in warnings[0].message
    again = run(b, retrying, cluster)  # the same failed attempt: no second read, no second Warning
    assert cluster.calls.count(f"pods {name}") == 1 and not [
        e for e in again.events if e.reason == "AttemptFailed"
    ]
    assert again.status.training is not None and again.status.training.failed_attempts == 1
