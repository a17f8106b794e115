"""The pure status function: every phase and condition transition, lastTransitionTime kept."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from stockops.crd.parent_model import ParentModelSpec
from stockops.crd.status_blocks import ModelStatus, TickerModelStatus
from stockops.crd.ticker_model import TickerModelSpec
from stockops.operator.observations import (
    InferenceServiceObservation,
    JobObservation,
    JobState,
    ParentObservation,
    RolloutObservation,
    TrainingProgress,
)
from stockops.operator.status import StatusInputs, compute_status
from stockops.operator.termination import TrainerResult
from stockops.operator.transitions import transition_events

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
JOB = "aapl-g1-p2-abcd1234"
PARENT_SPEC = ParentModelSpec()
CHILD_SPEC = TickerModelSpec.model_validate({"ticker": "AAPL", "parentRef": {"name": "gspc"}})
READY_PARENT = ParentObservation("gspc", "^GSPC", "Ready", True, "stockops-gspc", "2")
ROLLED_OUT_3 = RolloutObservation("3", True, "1 of 1 replicas rolled out")
METRICS = {
    "rmse": 3.2,
    "mae": 2.1,
    "mape": 1.4,
    "naive_rmse": 3.3,
    "skill": 0.0303,
    "directional_accuracy": 0.53,
    "per_horizon": [{"horizon": 1, "rmse": 2.0, "naive_rmse": 2.1, "skill": 0.05}],
}
OK = TrainerResult(
    ok=True,
    ticker="AAPL",
    model_name="stockops-aapl",
    model_version="3",
    run_id="r1",
    promoted=True,
    promotion_reason="skill 0.030 >= gate -0.100",
    metrics=METRICS,
    synthetic=False,
)


def job(state: JobState, **kw: object) -> JobObservation:
    defaults: dict = {"active": 1 if state is JobState.RUNNING else 0, "start_time": "2024-05-01T11:00:00Z"}
    if state is JobState.SUCCEEDED:
        defaults.update(succeeded=1, completion_time="2024-05-01T11:30:00Z")
    if state is JobState.FAILED:
        defaults.update(
            failed=3, completion_time="2024-05-01T11:30:00Z", failure_reason="BackoffLimitExceeded"
        )
    defaults.update(kw)
    return JobObservation(name=JOB, namespace="ml", state=state, **defaults)


def child(previous: ModelStatus | None = None, **kw: object) -> TickerModelStatus:
    inputs = StatusInputs(
        kind="TickerModel",
        generation=1,
        spec=CHILD_SPEC,
        previous=previous or TickerModelStatus(),
        now=T0,
        job_name=JOB,
        parent=READY_PARENT,
        parent_version="2",
        isvc_name="aapl",
        mlflow_ui="http://mlflow",
    )
    status = compute_status(replace(inputs, **kw))
    assert isinstance(status, TickerModelStatus)
    return status


def parent(previous: ModelStatus | None = None, **kw: object) -> ModelStatus:
    inputs = StatusInputs(
        kind="ParentModel",
        generation=4,
        spec=PARENT_SPEC,
        previous=previous or ModelStatus(),
        now=T0,
        job_name="gspc-g4-x",
    )
    return compute_status(replace(inputs, **kw))


def cond(status: ModelStatus, type_: str) -> tuple[str, str]:
    condition = status.condition(type_)
    assert condition is not None, f"{type_} missing"
    return condition.status, condition.reason


def test_every_condition_is_present_from_the_first_visit() -> None:
    status = child(job_name=None, parent=None, parent_version=None)
    assert [c.type for c in status.conditions or []] == [
        "ParentReady",
        "Trained",
        "Promoted",
        "ServingReady",
        "Ready",
    ]
    assert cond(status, "Promoted") == ("Unknown", "NotTrained")
    assert [c.type for c in parent(job=None).conditions or []] == ["Trained", "Ready"]


def test_child_waits_for_a_parent_that_is_not_ready() -> None:
    training = replace(READY_PARENT, phase="Training", ready=False)
    status = child(job_name=None, parent=training, parent_version=None)
    assert status.phase == "WaitingForParent"
    assert cond(status, "ParentReady") == ("False", "WaitingForParent")
    assert "gspc" in (status.condition("ParentReady").message or "")  # type: ignore[union-attr]
    assert cond(status, "Trained") == ("Unknown", "WaitingForParent")
    assert cond(status, "Ready") == ("False", "WaitingForParent")
    assert status.observed_generation == 1


def test_child_of_a_missing_parent_says_so() -> None:
    status = child(job_name=None, parent=None, parent_version=None)
    assert status.phase == "WaitingForParent"
    assert cond(status, "ParentReady") == ("False", "ParentNotFound")


def test_child_of_a_failed_parent_fails_with_reason() -> None:
    failed = replace(READY_PARENT, phase="Failed", ready=False, reason="NoData", message="no rows for ^GSPC")
    status = child(job_name=None, parent=failed, parent_version=None)
    assert status.phase == "Failed"
    assert cond(status, "Ready") == ("False", "ParentFailed")
    assert "no rows for ^GSPC" in status.condition("Ready").message  # type: ignore[union-attr]


def test_job_lifecycle_pending_training_ready() -> None:
    pending = child(job=None)
    assert pending.phase == "Pending"
    assert cond(pending, "ParentReady") == ("True", "ParentReady")
    assert cond(pending, "Trained") == ("False", "JobPending")

    created = child(pending, job=job(JobState.PENDING, start_time=None))
    assert created.phase == "Pending"

    progress = TrainingProgress(epoch=2, epochs=5, percent=40)
    running = child(created, job=job(JobState.RUNNING), progress=progress)
    assert running.phase == "Training"
    assert running.training is not None
    assert (running.training.epoch, running.training.epochs, running.training.progress_percent) == (2, 5, 40)
    assert "epoch 2/5 (40%)" in running.condition("Trained").message  # type: ignore[union-attr]

    done = child(running, job=job(JobState.SUCCEEDED), result=OK)
    assert done.phase == "Deploying"
    assert cond(done, "Trained") == ("True", "TrainingSucceeded")
    assert cond(done, "Promoted") == ("True", "Promoted")
    assert cond(done, "ServingReady") == ("False", "InferenceServicePending")
    assert done.training is not None and done.training.progress_percent == 100
    assert done.training.completion_time == "2024-05-01T11:30:00Z"
    assert done.metrics is not None and done.metrics.skill == 0.0303 and done.metrics.naive_rmse == 3.3
    assert done.metrics.per_horizon is not None and done.metrics.per_horizon[0].horizon == 1
    assert done.mlflow is not None
    assert (done.mlflow.model_version, done.mlflow.serving_version, done.mlflow.run_id) == ("3", "3", "r1")
    assert done.mlflow.uri == "http://mlflow/#/models/stockops-aapl/versions/3"
    assert done.parent is not None and done.parent.model_version == "2"

    isvc = InferenceServiceObservation("aapl", True, "http://aapl.ml.example", "3", rollout=ROLLED_OUT_3)
    ready = child(done, job=job(JobState.SUCCEEDED), isvc=isvc)
    assert ready.phase == "Ready"
    assert cond(ready, "ServingReady") == ("True", "InferenceServiceReady")
    assert cond(ready, "Ready") == ("True", "Ready")
    assert ready.inference is not None and ready.inference.url == "http://aapl.ml.example"
    assert ready.metrics == done.metrics  # recorded: not recomputed without the result


def test_url_only_when_the_inference_service_is_ready() -> None:
    done = child(job=job(JobState.SUCCEEDED), result=OK)
    not_ready = InferenceServiceObservation("aapl", False, "http://aapl", "3", "Starting", "pulling image")
    status = child(done, job=job(JobState.SUCCEEDED), isvc=not_ready)
    assert status.phase == "Deploying"
    assert cond(status, "ServingReady") == ("False", "Starting")
    assert status.inference is not None and status.inference.url is None


def test_rollout_to_a_new_version_is_not_ready_until_served() -> None:
    done = child(job=job(JobState.SUCCEEDED), result=OK)
    old = InferenceServiceObservation("aapl", True, "http://aapl", "2")
    status = child(done, job=job(JobState.SUCCEEDED), isvc=old)
    assert cond(status, "ServingReady") == ("False", "RollingOut")
    assert status.phase == "Deploying"


def test_last_transition_time_is_kept_while_status_is_unchanged() -> None:
    first = child(job=job(JobState.RUNNING), progress=TrainingProgress(1, 5, 20))
    later = child(
        first,
        job=job(JobState.RUNNING),
        progress=TrainingProgress(3, 5, 60),
        now=T0 + dt.timedelta(minutes=5),
    )
    before, after = first.condition("Trained"), later.condition("Trained")
    assert before is not None and after is not None
    assert after.message != before.message  # the message moved on ...
    assert (
        after.last_transition_time == before.last_transition_time == "2024-05-01T12:00:00Z"
    )  # ... the time did not
    done = child(later, job=job(JobState.SUCCEEDED), result=OK, now=T0 + dt.timedelta(minutes=9))
    assert done.condition("Trained").last_transition_time == "2024-05-01T12:09:00Z"  # type: ignore[union-attr]


def test_same_observations_give_the_same_status() -> None:
    first = child(job=job(JobState.RUNNING), progress=TrainingProgress(1, 5, 20))
    again = child(
        first, job=job(JobState.RUNNING), progress=TrainingProgress(1, 5, 20), now=T0 + dt.timedelta(hours=1)
    )
    assert again == first
    assert transition_events(first, again) == []


def test_no_data_failure_carries_the_trainers_reason() -> None:
    result = TrainerResult(ok=False, reason="NoData", message="no prices for ZZZZ from csv:/data")
    failed = job(JobState.FAILED, failed=1, failure_reason="PodFailurePolicy")
    status = child(job=failed, result=result)
    assert status.phase == "Failed"
    assert cond(status, "Trained") == ("False", "NoData")
    assert cond(status, "Ready") == ("False", "NoData")
    assert "ZZZZ" in status.condition("Ready").message  # type: ignore[union-attr]
    assert status.training is not None and status.training.completion_time is not None


def test_backoff_exhausted_reports_attempts_and_the_error() -> None:
    result = TrainerResult(ok=False, reason="Error", message="CUDA exploded")
    status = parent(job=job(JobState.FAILED), result=result)
    assert status.phase == "Failed"
    trained = status.condition("Trained")
    assert trained is not None and trained.reason == "BackoffLimitExceeded"
    assert "3 attempt(s)" in trained.message and "CUDA exploded" in trained.message


def test_deadline_exceeded_without_a_message() -> None:
    status = parent(
        job=job(JobState.FAILED, failed=1, failure_reason="DeadlineExceeded", failure_message="too long")
    )
    assert status.phase == "Failed"
    assert cond(status, "Ready") == ("False", "DeadlineExceeded")


def test_success_without_termination_message_waits_then_fails() -> None:
    finished = job(JobState.SUCCEEDED, completion_time="2024-05-01T11:59:30Z")
    waiting = parent(job=finished)
    assert waiting.phase == "Training"
    assert cond(waiting, "Trained") == ("Unknown", "AwaitingResult")
    late = parent(waiting, job=finished, now=T0 + dt.timedelta(minutes=2))
    assert late.phase == "Failed"
    assert cond(late, "Trained") == ("False", "NoResult")


def test_a_parent_seeds_children_only_from_its_production_version() -> None:
    promoted = OK.model_copy(update={"model_name": "stockops-gspc", "model_version": "7"})
    status = parent(job=job(JobState.SUCCEEDED), result=promoted)
    assert status.phase == "Ready"
    assert cond(status, "Ready") == ("True", "Ready")
    assert status.mlflow is not None and status.mlflow.serving_version == "7"
    assert status.observed_generation == 4

    # a version that failed its gate never seeds children: the trainer names production, it stays
    below = promoted.model_copy(update={"model_version": "8", "promoted": False, "production_version": "7"})
    kept = parent(job=job(JobState.SUCCEEDED), result=below)
    assert kept.mlflow is not None and kept.mlflow.serving_version == "7" and kept.phase == "Ready"
    # and with no production version at all there is nothing to transfer from
    first = promoted.model_copy(update={"promoted": False, "promotion_reason": "skill -0.2 < gate 0"})
    failed = parent(job=job(JobState.SUCCEEDED), result=first)
    assert failed.phase == "Failed" and cond(failed, "Ready") == ("False", "NotPromoted")
    assert failed.mlflow is not None and failed.mlflow.serving_version is None


def test_child_below_the_gate_with_nothing_to_serve_fails() -> None:
    below = OK.model_copy(update={"promoted": False, "promotion_reason": "skill -0.3 < gate -0.1"})
    status = child(job=job(JobState.SUCCEEDED), result=below)
    assert status.phase == "Failed"
    assert cond(status, "Promoted") == ("False", "BelowGate")
    assert cond(status, "Ready") == ("False", "NotPromoted")
    assert status.metrics is not None and status.metrics.skill == 0.0303  # the user sees what failed


def test_child_below_the_gate_keeps_serving_the_previous_version() -> None:
    served = child(job=job(JobState.SUCCEEDED), result=OK)
    isvc = InferenceServiceObservation("aapl", True, "http://aapl", "3", rollout=ROLLED_OUT_3)
    served = child(served, job=job(JobState.SUCCEEDED), isvc=isvc)
    retrain = replace(job(JobState.SUCCEEDED), name="aapl-g1-p3-x")
    below = OK.model_copy(update={"model_version": "4", "promoted": False, "promotion_reason": "worse"})
    status = child(served, job_name="aapl-g1-p3-x", job=retrain, result=below, isvc=isvc, parent_version="3")
    assert status.mlflow is not None
    assert (status.mlflow.model_version, status.mlflow.serving_version) == ("4", "3")
    assert status.phase == "Ready"
    assert cond(status, "Promoted") == ("False", "BelowGate")


def test_serving_disabled_is_ready_when_trained() -> None:
    spec = TickerModelSpec.model_validate({**CHILD_SPEC.to_wire(), "serving": {"enabled": False}})
    status = child(job=job(JobState.SUCCEEDED), result=OK, spec=spec)
    assert status.phase == "Ready"
    assert cond(status, "ServingReady") == ("False", "ServingDisabled")
    assert status.inference is None


def test_suspend_shows_suspended_until_training_is_done() -> None:
    spec = TickerModelSpec.model_validate({**CHILD_SPEC.to_wire(), "suspend": True})
    assert child(job=job(JobState.SUSPENDED), spec=spec).phase == "Suspended"
    assert child(job=None, spec=spec).phase == "Suspended"
    assert child(job_name=None, parent=None, parent_version=None, spec=spec).phase == "Suspended"
    done = child(job=job(JobState.SUCCEEDED), result=OK, spec=spec)
    assert done.phase == "Deploying"  # suspend stops new work only


def test_recorded_outcome_survives_the_job_being_deleted() -> None:
    failed = parent(job=job(JobState.FAILED), result=TrainerResult(ok=False, reason="BadData", message="gap"))
    assert failed.phase == "Failed"
    later = parent(failed, job=None, now=T0 + dt.timedelta(days=2))  # TTL removed the Job
    assert later == failed


def test_new_generation_resets_observed_generation_and_keeps_last_metrics() -> None:
    done = parent(job=job(JobState.SUCCEEDED), result=OK)
    changed = parent(done, generation=5, job_name="gspc-g5-y", job=None)
    assert changed.observed_generation == 5
    assert changed.phase == "Pending"
    # Ready means a version is there to use: the retraining does not take it away
    assert cond(changed, "Ready") == ("True", "Retraining")
    assert cond(changed, "Trained")[1] == "JobPending"
    assert changed.metrics == done.metrics and changed.mlflow == done.mlflow


def test_synthetic_results_are_flagged() -> None:
    status = parent(job=job(JobState.SUCCEEDED), result=OK.model_copy(update={"synthetic": True}))
    assert status.synthetic is True
    assert "synthetic" in status.condition("Trained").message  # type: ignore[union-attr]


def test_transition_events_name_what_changed() -> None:
    running = child(job=job(JobState.RUNNING))
    failed = child(
        running, job=job(JobState.FAILED), result=TrainerResult(ok=False, reason="NoData", message="m")
    )
    events = transition_events(running, failed)
    assert ("Warning", "PhaseFailed") in [(e.type, e.reason) for e in events]
    assert ("Warning", "NoData") in [(e.type, e.reason) for e in events]
    first = transition_events(TickerModelStatus(), running)
    assert first[0].reason == "PhaseTraining"


def test_unpromoted_child_serves_the_version_the_trainer_names_as_production() -> None:
    below = OK.model_copy(update={"model_version": "4", "promoted": False, "production_version": "2"})
    status = child(job=job(JobState.SUCCEEDED), result=below)
    assert status.mlflow is not None and status.mlflow.serving_version == "2"
    assert status.phase == "Deploying"


BACKTEST = {
    "folds": 5, "fold_windows": 560, "test_start": "2015-03-02", "test_end": "2026-07-31",
    "median_skill": -0.0012, "mean_skill": -0.0031, "positive_fraction": 0.4, "pooled_skill": -0.0025,
    "pooled_skill_ci_low": -0.009, "pooled_skill_ci_high": 0.0031, "interval_coverage": 0.79,
    "directional_accuracy": 0.51, "up_rate": 0.54, "sharpe": 0.41, "buy_hold_sharpe": 0.72,
    "annual_return": 0.043, "buy_hold_annual_return": 0.101, "max_drawdown": -0.21,
    "buy_hold_max_drawdown": -0.34, "turnover": 31.5, "exposure": 0.62, "cost": 0.0005,
}  # fmt: skip


def test_the_backtest_summary_reaches_status_and_a_later_training_without_one_clears_it() -> None:
    with_backtest = OK.model_copy(update={"backtest": BACKTEST})
    done = child(job=job(JobState.SUCCEEDED), result=with_backtest)
    backtest = done.backtest
    assert backtest is not None
    assert (backtest.folds, backtest.fold_windows, backtest.test_start) == (5, 560, "2015-03-02")
    assert (backtest.median_skill, backtest.positive_fraction) == (-0.0012, 0.4)
    assert (backtest.skill, backtest.skill_low, backtest.skill_high) == (-0.0025, -0.009, 0.0031)
    assert (backtest.sharpe, backtest.buy_hold_sharpe, backtest.max_drawdown) == (0.41, 0.72, -0.21)
    wire = done.model_dump(by_alias=True, exclude_none=True)["backtest"]
    assert {"medianSkill", "skillLow", "skillHigh", "buyHoldSharpe", "positiveFraction"} <= set(wire)

    second = "aapl-g2-x"
    running = child(done, generation=2, job_name=second, job=replace(job(JobState.RUNNING), name=second))
    assert running.backtest == backtest  # kept while the next training runs
    finished = replace(job(JobState.SUCCEEDED), name=second)
    again = child(running, generation=2, job_name=second, job=finished, result=OK)
    assert again.backtest is None  # it described the previous version
    assert parent(job=job(JobState.SUCCEEDED), result=with_backtest).backtest == backtest


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("BackoffLimitExceeded", "BackoffLimitExceeded"),
        ("Mlflow Unavailable!", "MlflowUnavailable"),
        ("404NotFound", "NotFound"),
        ("Trailing:", "Trailing"),
        ("", "Unknown"),
        ("***", "Unknown"),
        ("x" * 300, "x" * 128),
    ],
)
def test_condition_reasons_always_match_the_schema_pattern(raw: str, expected: str) -> None:
    import re

    from stockops.crd.status_blocks import REASON_PATTERN
    from stockops.operator.conditions import condition_reason

    assert condition_reason(raw) == expected
    assert re.fullmatch(REASON_PATTERN, condition_reason(raw))


def test_condition_schema_has_the_metav1_rules() -> None:
    from stockops.crd.generate import rendered_files

    text = "\n".join(rendered_files().values())
    assert "format: date-time" in text
    assert "pattern: ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$" in text


def test_a_failed_retrain_keeps_ready_while_the_old_version_serves() -> None:
    from stockops.operator.observations import InferenceServiceObservation

    isvc = InferenceServiceObservation("aapl", True, "http://aapl.ml", "3", rollout=ROLLED_OUT_3)
    served = child(job=job(JobState.SUCCEEDED), result=OK, isvc=isvc)
    assert served.phase == "Ready" and cond(served, "Ready") == ("True", "Ready")

    retrain = "aapl-g1-p3-retrain"
    running = child(served, job_name=retrain, job=replace(job(JobState.RUNNING), name=retrain), isvc=isvc)
    assert running.phase == "Training"
    assert cond(running, "Ready") == ("True", "Retraining")  # version 3 still answers
    assert "version 3 still serves" in running.condition("Ready").message  # type: ignore[union-attr]

    crashed = TrainerResult(ok=False, reason="Error", message="MLflow unreachable")
    failed = child(
        running, job_name=retrain, job=replace(job(JobState.FAILED), name=retrain), result=crashed, isvc=isvc
    )
    assert failed.phase == "Ready" and cond(failed, "Ready")[0] == "True"
    assert cond(failed, "Trained") == ("False", "LatestTrainingFailed")
    trained = failed.condition("Trained")
    assert (
        trained is not None
        and "MLflow unreachable" in trained.message
        and "version 3 still serves" in trained.message
    )
    assert failed.mlflow is not None and failed.mlflow.serving_version == "3"
    from stockops.operator.transitions import transition_events

    warnings = [e for e in transition_events(running, failed) if e.reason == "LatestTrainingFailed"]
    assert warnings and warnings[0].type == "Warning"

    # the first training failing with nothing served is still a failure of the resource
    first = child(job=job(JobState.FAILED), result=crashed)
    assert first.phase == "Failed" and cond(first, "Ready") == ("False", "BackoffLimitExceeded")


def test_a_new_version_serves_only_once_its_pods_rolled_out() -> None:
    """KServe's Ready stays True while the old pods answer: version 4 counts once its rollout is done,
    and a rollout that never completes (the new pod cannot load its model) never flips it."""
    served = child(job=job(JobState.SUCCEEDED), result=OK)
    served = child(served, job=job(JobState.SUCCEEDED), isvc=InferenceServiceObservation(
        "aapl", True, "http://aapl", "3", rollout=ROLLED_OUT_3))  # fmt: skip
    retrain = replace(job(JobState.SUCCEEDED), name="aapl-g1-p3-x")
    four = OK.model_copy(update={"model_version": "4"})
    promoted = child(served, job_name="aapl-g1-p3-x", job=retrain, result=four, parent_version="3",
                     isvc=InferenceServiceObservation("aapl", True, "http://aapl", "3"))  # fmt: skip
    assert promoted.mlflow is not None and promoted.mlflow.serving_version == "4"

    stuck = RolloutObservation("4", False, "1 old replicas pending termination")
    rolling_isvc = InferenceServiceObservation("aapl", True, "http://aapl", "4", rollout=stuck)
    rolling = child(promoted, job_name="aapl-g1-p3-x", job=retrain, isvc=rolling_isvc, parent_version="3")
    assert rolling.inference is not None
    assert (rolling.inference.model_version, rolling.inference.rolling_out_version) == ("3", "4")
    assert rolling.inference.ready and rolling.inference.url == "http://aapl"
    assert cond(rolling, "ServingReady") == ("False", "RollingOut")
    message = rolling.condition("ServingReady").message  # type: ignore[union-attr]
    assert "serves version 3; rolling out version 4: 1 old replicas pending termination" in message
    assert rolling.phase == "Deploying" and cond(rolling, "Ready") == ("True", "Ready")
    assert "version 3 still serves" in rolling.condition("Ready").message  # type: ignore[union-attr]

    # the next pass reads no rollout (none is known newer): version 3 still is what serves
    unread = child(rolling, job_name="aapl-g1-p3-x", job=retrain, parent_version="3",
                   isvc=replace(rolling_isvc, rollout=None))  # fmt: skip
    assert unread.inference is not None and unread.inference.model_version == "3"

    done = replace(rolling_isvc, rollout=RolloutObservation("4", True, "1 of 1 replicas rolled out"))
    rolled = child(rolling, job_name="aapl-g1-p3-x", job=retrain, isvc=done, parent_version="3")
    assert rolled.inference is not None
    assert (rolled.inference.model_version, rolled.inference.rolling_out_version) == ("4", None)
    assert rolled.phase == "Ready" and cond(rolled, "ServingReady") == ("True", "InferenceServiceReady")


def test_a_first_rollout_serves_nothing_until_it_completes() -> None:
    done = child(job=job(JobState.SUCCEEDED), result=OK)
    rolling = RolloutObservation("3", False, "0 of 1 updated replicas available")
    status = child(done, job=job(JobState.SUCCEEDED), isvc=InferenceServiceObservation(
        "aapl", True, "http://aapl", "3", rollout=rolling))  # fmt: skip
    assert status.inference is not None
    assert (status.inference.model_version, status.inference.rolling_out_version) == (None, "3")
    assert not status.inference.ready and status.inference.url is None
    assert cond(status, "ServingReady") == ("False", "RollingOut")
    assert status.phase == "Deploying" and cond(status, "Ready")[0] == "False"
