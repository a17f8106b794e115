"""The pure status function: what the operator observed -> the status a user reads.

`compute_status(StatusInputs) -> ModelStatus | TickerModelStatus` takes the spec, the previous status,
the training Job the current generation needs (and its termination message and MLflow progress), the
parent (for a TickerModel) and the InferenceService, and returns the whole new status. No I/O and no
clock: `now` is an input, so every phase and condition transition is unit-tested.

Semantics users can rely on:
- `phase` summarises; the conditions carry reasons. All condition types are present from the first
  visit (Unknown until known). lastTransitionTime moves only when a condition's status changes.
- `metrics`, `backtest` and `mlflow` describe the latest finished training and stay while a new one
  runs.
- A finished training is recorded in status (jobName + completionTime), so the outcome survives the
  Job's TTL deletion and is never recomputed from a Job that is gone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from stockops.crd.parent_model import ParentModelSpec
from stockops.crd.status_blocks import (
    BacktestStatus,
    Condition,
    ConditionStatus,
    InferenceStatus,
    MetricsStatus,
    MlflowStatus,
    ModelStatus,
    ParentLink,
    TickerModelStatus,
    TrainingStatus,
)
from stockops.crd.ticker_model import TickerModelSpec
from stockops.operator.conditions import (
    PARENT_READY,
    PROMOTED,
    READY,
    SERVING_READY,
    TRAINED,
    make_condition,
    parse_rfc3339,
    rfc3339,
)
from stockops.operator.observations import (
    InferenceServiceObservation,
    JobObservation,
    JobState,
    ParentObservation,
    TrainingProgress,
    served_version,
)
from stockops.operator.termination import TrainerResult, backtest_to_status, metrics_to_status

PARENT_MODEL = "ParentModel"
TICKER_MODEL = "TickerModel"

# Reasons that mean "something is wrong" (Warning events, Failed phase).
FAILURE_REASONS = frozenset(
    {
        "NoData",
        "BadData",
        "ParentIncompatible",
        "ParentMissing",
        "InvalidConfig",
        "Error",
        "NoResult",
        "DeadlineExceeded",
        "BackoffLimitExceeded",
        "PodFailurePolicy",
        "JobFailed",
        "ParentFailed",
        "ParentNotFound",
        "NotPromoted",
        "LatestTrainingFailed",
        "MlflowUnavailable",
        "RedisUnavailable",
    }
)
LATEST_TRAINING_FAILED = "LatestTrainingFailed"


class Outcome(StrEnum):
    """Where the training of the current generation stands."""

    WAITING = "Waiting"  # no Job yet: the parent is not Ready (TickerModel)
    PENDING = "Pending"  # Job being created or not started
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    AWAITING_RESULT = "AwaitingResult"  # Job succeeded, termination message not seen yet
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    RECORDED = "Recorded"  # finished earlier; the outcome is already in the previous status


@dataclass(frozen=True)
class StatusInputs:
    """Everything the status depends on."""

    kind: str
    generation: int
    spec: ParentModelSpec | TickerModelSpec
    previous: ModelStatus
    now: dt.datetime
    job_name: str | None
    job: JobObservation | None = None
    result: TrainerResult | None = None
    progress: TrainingProgress | None = None
    parent: ParentObservation | None = None
    parent_version: str | None = None
    isvc_name: str | None = None
    isvc: InferenceServiceObservation | None = None
    mlflow_ui: str | None = None
    result_grace_seconds: float = 60.0
    scheduled_at: str | None = None
    retrain_request: str | None = None
    reason: str | None = None  # why the current training started (RetrainReason)
    check_time: str | None = None  # the monitoring check behind reason Drift/Degraded
    identity: str | None = None  # hash of the model-changing spec fields (the Job's key)
    last_failure: str | None = None  # "Reason: message" of the latest failed attempt of a retrying Job

    @property
    def is_ticker(self) -> bool:
        return self.kind == TICKER_MODEL


def training_recorded(previous: ModelStatus, job_name: str | None) -> bool:
    """Whether `previous` already records the finished outcome of Job `job_name`."""
    training = previous.training
    trained = previous.condition(TRAINED)
    return bool(
        job_name
        and training is not None
        and training.job_name == job_name
        and training.completion_time
        and trained is not None
        and trained.status in ("True", "False")
    )


@dataclass(frozen=True)
class _Training:
    outcome: Outcome
    reason: str = ""
    message: str = ""


def _training_outcome(inputs: StatusInputs) -> _Training:
    name, job, result = inputs.job_name, inputs.job, inputs.result
    if name is None:
        return _Training(Outcome.WAITING)
    if training_recorded(inputs.previous, name):
        return _Training(Outcome.RECORDED)
    if job is None:
        return _Training(Outcome.PENDING, "JobPending", f"creating training Job {name}")
    if job.state is JobState.SUCCEEDED:
        if result is None:
            finished = parse_rfc3339(job.completion_time) or inputs.now
            if (inputs.now - finished).total_seconds() < inputs.result_grace_seconds:
                return _Training(
                    Outcome.AWAITING_RESULT,
                    "AwaitingResult",
                    f"Job {name} succeeded; waiting for the trainer's termination message",
                )
            return _Training(
                Outcome.FAILED,
                "NoResult",
                f"Job {name} succeeded but its trainer wrote no termination message; see the pod logs",
            )
        if result.ok:
            return _Training(Outcome.SUCCEEDED)
        return _Training(
            Outcome.FAILED, result.failure_reason, result.message or f"Job {name} reported failure"
        )
    if job.state is JobState.FAILED:
        job_reason = job.failure_reason or "JobFailed"
        if result is not None and not result.ok and result.failure_reason != "Error":
            reason = result.failure_reason
            detail = result.message or job.failure_message or ""
            message = f"{detail} (Job {name} failed after {job.attempts} attempt(s), {job_reason})"
        else:
            reason = job_reason if job_reason != "PodFailurePolicy" else "Error"
            detail = (result.message if result and result.message else None) or job.failure_message or ""
            message = f"Job {name} failed after {job.attempts} attempt(s) ({job_reason})"
            message += f": {detail}" if detail else ""
        return _Training(Outcome.FAILED, reason, message)
    if job.state is JobState.SUSPENDED:
        return _Training(Outcome.SUSPENDED, "Suspended", f"Job {name} is suspended")
    earlier = ""
    if job.failed and inputs.last_failure:
        earlier = f"; attempt {job.failed} failed ({inputs.last_failure})"
    if job.state is JobState.RUNNING:
        progress = inputs.progress
        detail = f"epoch {progress.epoch}/{progress.epochs} ({progress.percent}%)" if progress else "started"
        attempt = f"Job {name} attempt {max(job.attempts, 1)}: {detail}{earlier}"
        return _Training(Outcome.RUNNING, "Retrying" if earlier else "Training", attempt)
    if earlier:
        return _Training(Outcome.PENDING, "Retrying", f"Job {name} waiting for its next pod{earlier}")
    return _Training(Outcome.PENDING, "JobPending", f"Job {name} created; waiting for its pod to start")


def _training_block(inputs: StatusInputs, training: _Training) -> TrainingStatus | None:
    previous = inputs.previous.training
    if training.outcome in (Outcome.WAITING, Outcome.RECORDED):
        return previous
    job = inputs.job
    same_job = previous is not None and previous.job_name == inputs.job_name
    epoch = previous.epoch if same_job and previous else None
    epochs = previous.epochs if same_job and previous else None
    percent = previous.progress_percent if same_job and previous else None
    if inputs.progress is not None:
        epoch, epochs, percent = inputs.progress.epoch, inputs.progress.epochs, inputs.progress.percent
    if training.outcome is Outcome.SUCCEEDED:
        percent = 100
    finished = training.outcome in (Outcome.SUCCEEDED, Outcome.FAILED)
    completion = None
    if finished:
        completion = (job.completion_time if job else None) or rfc3339(inputs.now)
    return TrainingStatus(
        job_name=inputs.job_name,
        attempt=job.attempts if job else 0,
        epoch=epoch,
        epochs=epochs,
        progress_percent=percent,
        start_time=job.start_time if job else None,
        completion_time=completion,
        scheduled_at=inputs.scheduled_at,
        retrain_request=inputs.retrain_request,
        reason=inputs.reason,
        check_time=inputs.check_time,
        identity=inputs.identity,
        failed_attempts=job.failed if job else None,
        last_failure=inputs.last_failure,
    )


def _mlflow_block(inputs: StatusInputs, training: _Training) -> MlflowStatus | None:
    previous = inputs.previous.mlflow
    result = inputs.result
    if training.outcome is not Outcome.SUCCEEDED or result is None:
        return previous
    promoted = result.promoted
    if inputs.is_ticker:
        if promoted:
            serving = result.model_version
        else:  # the trainer names the version still in production; else keep what we served
            serving = result.production_version or (previous.serving_version if previous else None)
    elif promoted:
        serving = result.model_version
    else:
        # Children transfer from the parent's production version: one that failed its gate (worse than
        # the random walk, or synthetic) never seeds them.
        serving = result.production_version or (previous.serving_version if previous else None)
    uri = None
    if inputs.mlflow_ui and result.model_name and result.model_version:
        uri = f"{inputs.mlflow_ui}/#/models/{result.model_name}/versions/{result.model_version}"
    return MlflowStatus(
        run_id=result.run_id,
        model_name=result.model_name,
        model_version=result.model_version,
        promoted=promoted,
        promotion_reason=result.promotion_reason,
        serving_version=serving,
        uri=uri,
    )


def _serving_enabled(spec: ParentModelSpec | TickerModelSpec) -> bool:
    if not isinstance(spec, TickerModelSpec):
        return False
    return spec.serving is None or spec.serving.enabled is not False


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


Reason = tuple[str, str]  # (reason, message)


class _Conditions:
    """Builds conditions for one pass; keeps lastTransitionTime from the previous status."""

    def __init__(self, inputs: StatusInputs) -> None:
        self._previous = inputs.previous.conditions or []
        self._now = inputs.now
        self._generation = inputs.generation

    def make(self, type_: str, status: ConditionStatus, reason: str, message: str) -> Condition:
        return make_condition(
            self._previous, type_, status, reason, message, now=self._now, generation=self._generation
        )


def _parent_problem(inputs: StatusInputs) -> Reason | None:
    """Why the parent cannot be trained from now (None: it can)."""
    if not isinstance(inputs.spec, TickerModelSpec):
        return None
    name, parent = inputs.spec.parent_ref.name, inputs.parent
    if parent is None:
        return "ParentNotFound", f"ParentModel '{name}' not found in this namespace"
    if parent.failed:
        detail = f"{parent.reason}): {parent.message}" if parent.message else f"{parent.reason})"
        return "ParentFailed", f"ParentModel '{name}' failed ({detail}"
    if not parent.ready:
        return (
            "WaitingForParent",
            f"waiting for ParentModel '{name}' ({parent.phase or 'Pending'}) to become Ready",
        )
    return None


def _trained_condition(
    inputs: StatusInputs,
    training: _Training,
    metrics: MetricsStatus | None,
    parent_problem: Reason | None,
    c: _Conditions,
) -> Condition:
    outcome = training.outcome
    previous = inputs.previous.condition(TRAINED)
    if outcome is Outcome.RECORDED and previous is not None:
        return previous
    if outcome is Outcome.WAITING:
        reason, message = parent_problem or ("WaitingForParent", "waiting for the parent")
        return c.make(TRAINED, "Unknown", reason, f"no training yet: {message}")
    if outcome is Outcome.SUCCEEDED and inputs.result is not None:
        result, m = inputs.result, metrics or MetricsStatus()
        return c.make(
            TRAINED,
            "True",
            "TrainingSucceeded",
            f"{result.model_name} version {result.model_version}: test RMSE {_fmt(m.rmse)} vs "
            f"naive {_fmt(m.naive_rmse)} (skill {_fmt(m.skill)})"
            + (" [synthetic data]" if result.synthetic else ""),
        )
    if outcome is Outcome.AWAITING_RESULT:
        return c.make(TRAINED, "Unknown", training.reason, training.message)
    serving = _previous_serving(inputs)
    if outcome is Outcome.FAILED and serving is not None:
        # An earlier version still serves (Ready stays True): the failure gets its own reason, as
        # KubeRay's RayService reports a failed upgrade while the old cluster serves.
        message = (
            f"latest training failed ({training.reason}): {training.message}; version {serving} still serves"
        )
        return c.make(TRAINED, "False", LATEST_TRAINING_FAILED, message)
    return c.make(TRAINED, "False", training.reason, training.message)


def _previous_serving(inputs: StatusInputs) -> str | None:
    """The version served before this pass (None: nothing has been promoted yet)."""
    mlflow = inputs.previous.mlflow
    return mlflow.serving_version if mlflow else None


def _promoted_condition(inputs: StatusInputs, training: _Training, c: _Conditions) -> Condition:
    result = inputs.result
    if training.outcome is Outcome.SUCCEEDED and result is not None:
        if result.promoted:
            return c.make(PROMOTED, "True", "Promoted", result.promotion_reason or "passed the gate")
        why = result.promotion_reason or "below the gate"
        return c.make(PROMOTED, "False", "BelowGate", f"version {result.model_version} not promoted: {why}")
    return inputs.previous.condition(PROMOTED) or c.make(
        PROMOTED, "Unknown", "NotTrained", "no training has finished yet"
    )


def _serving(
    inputs: StatusInputs, serving_version: str | None, c: _Conditions
) -> tuple[Condition, InferenceStatus | None]:
    """ServingReady and the inference block (url only once the InferenceService is Ready).

    The block's modelVersion is the version that answers (`served_version`: Ready and rolled out),
    so while KServe rolls a new version out, or fails to, it keeps naming the previous one and
    rollingOutVersion names the new one.
    """
    previous = inputs.previous.inference if isinstance(inputs.previous, TickerModelStatus) else None
    verified = previous.model_version if previous else None
    isvc = inputs.isvc
    if not _serving_enabled(inputs.spec):
        return c.make(SERVING_READY, "False", "ServingDisabled", "spec.serving.enabled is false"), None
    if serving_version is None:
        return c.make(
            SERVING_READY, "Unknown", "NoPromotedVersion", "no promoted version to serve yet"
        ), previous
    if isvc is None:
        pending = InferenceStatus(name=inputs.isvc_name, ready=False, rolling_out_version=serving_version)
        message = f"creating InferenceService {inputs.isvc_name}"
        return c.make(SERVING_READY, "False", "InferenceServicePending", message), pending
    served = served_version(isvc, verified)
    answers = isvc.ready and served is not None
    url = isvc.url if answers else (previous.url if previous else None)
    address = isvc.address if answers else (previous.address if previous else None)
    rolling = isvc.model_version if isvc.model_version != served else None
    inference = InferenceStatus(
        name=isvc.name,
        url=url,
        address=address,
        ready=answers,
        model_version=served,
        rolling_out_version=rolling,
    )
    if not isvc.ready:
        reason = isvc.reason or "InferenceServiceNotReady"
        message = isvc.message or f"InferenceService {isvc.name} is not Ready yet"
        return c.make(SERVING_READY, "False", reason, message), inference
    if served != serving_version:
        target = rolling or serving_version
        why = f": {isvc.rollout.message}" if isvc.rollout and rolling else ""
        now = f"serves version {served}" if served else "serves no version yet"
        message = f"{isvc.name} {now}; rolling out version {target}{why}"
        return c.make(SERVING_READY, "False", "RollingOut", message), inference
    message = f"InferenceService {isvc.name} serves version {serving_version} at {isvc.url}"
    return c.make(SERVING_READY, "True", "InferenceServiceReady", message), inference


def _phase(
    inputs: StatusInputs,
    training: _Training,
    trained: Condition,
    parent_problem: Reason | None,
    mlflow: MlflowStatus | None,
    promoted: Condition | None,
    serving: Condition | None,
    inference: InferenceStatus | None,
) -> tuple[str, bool, Reason]:
    """The phase, whether Ready holds, and the (reason, message) of the Ready condition.

    Ready means "a promoted version is being served" (a parent: one is there to transfer from). It
    holds while a retraining runs and after one fails; the phase and the Trained condition say so.
    """
    outcome = training.outcome
    suspended = bool(inputs.spec.suspend)
    serving_version = mlflow.serving_version if mlflow else None
    model = (mlflow.model_name if mlflow else None) or "model"
    latest_failed = trained.status == "False" and trained.reason == LATEST_TRAINING_FAILED
    served = _served(inputs, serving_version, serving, inference)
    if trained.status == "False" and outcome in (Outcome.FAILED, Outcome.RECORDED) and not latest_failed:
        return "Failed", False, (trained.reason, trained.message)
    if outcome is Outcome.WAITING and served is None:
        problem = parent_problem or ("WaitingForParent", "waiting for the parent")
        if suspended:
            return "Suspended", False, ("Suspended", "spec.suspend is true; no training starts")
        return ("Failed" if problem[0] == "ParentFailed" else "WaitingForParent"), False, problem
    if trained.status != "True" and not latest_failed and outcome is not Outcome.WAITING:
        still = f"; {served}" if served else ""
        if suspended:
            detail = "spec.suspend is true; the training Job is suspended"
            return "Suspended", served is not None, ("Suspended", detail + still)
        phase = "Training" if outcome in (Outcome.RUNNING, Outcome.AWAITING_RESULT) else "Pending"
        reason = "Retraining" if served else trained.reason
        return phase, served is not None, (reason, trained.message + still)
    if not inputs.is_ticker:
        message = f"{model} version {serving_version} is ready to transfer"
        if serving_version is None:
            why = promoted.message if promoted else "not promoted"
            return "Failed", False, ("NotPromoted", f"{why}; no version is there to transfer from")
        return "Ready", True, ("Ready", message + _latest_failed_note(trained, latest_failed))
    if serving_version is None:
        why = promoted.message if promoted else "not promoted"
        return (
            "Failed",
            False,
            ("NotPromoted", f"{why}; no earlier version is promoted, so nothing is served"),
        )
    if not _serving_enabled(inputs.spec):
        message = f"version {serving_version} is promoted; serving is disabled"
        return "Ready", True, ("Ready", message + _latest_failed_note(trained, latest_failed))
    if serving is not None and serving.status == "True":
        url = inference.url if inference else None
        message = f"serving {model} version {serving_version} at {url}"
        return "Ready", True, ("Ready", message + _latest_failed_note(trained, latest_failed))
    if served:  # rolling to a new version while the old one answers
        return "Deploying", True, ("Ready", f"{served}; {serving.message if serving else 'deploying'}")
    return "Deploying", False, (serving.reason, serving.message) if serving else ("Deploying", "")


def _served(
    inputs: StatusInputs,
    serving_version: str | None,
    serving: Condition | None,
    inference: InferenceStatus | None,
) -> str | None:
    """A sentence naming the version that answers now (None: nothing does)."""
    previous = _previous_serving(inputs)
    if not inputs.is_ticker:
        version = serving_version or previous
        return f"version {version} is ready to transfer" if version else None
    if not _serving_enabled(inputs.spec):
        version = serving_version or previous
        return f"version {version} is promoted (serving disabled)" if version else None
    if inference is not None and inference.ready and inference.model_version:
        return f"version {inference.model_version} still serves at {inference.url}"
    return None


def _latest_failed_note(trained: Condition, latest_failed: bool) -> str:
    return f" ({trained.message})" if latest_failed else ""


def _parent_link(inputs: StatusInputs) -> ParentLink:
    previous = inputs.previous.parent if isinstance(inputs.previous, TickerModelStatus) else None
    parent = inputs.parent
    spec = inputs.spec
    return ParentLink(
        name=spec.parent_ref.name if isinstance(spec, TickerModelSpec) else None,
        ticker=(parent.ticker if parent else None) or (previous.ticker if previous else None),
        model_name=(parent.model_name if parent else None) or (previous.model_name if previous else None),
        model_version=inputs.parent_version,
    )


def compute_status(inputs: StatusInputs) -> ModelStatus:
    """The new status (whole object) for the observations in `inputs`."""
    previous = inputs.previous
    c = _Conditions(inputs)
    training = _training_outcome(inputs)
    mlflow = _mlflow_block(inputs, training)
    metrics, synthetic, backtest = previous.metrics, previous.synthetic, previous.backtest
    if training.outcome is Outcome.SUCCEEDED and inputs.result is not None:
        metrics = MetricsStatus.model_validate(metrics_to_status(inputs.result.metrics))
        synthetic = bool(inputs.result.synthetic)
        # a training without a backtest clears the previous one: it described another version
        wire = backtest_to_status(inputs.result.backtest)
        backtest = BacktestStatus.model_validate(wire) if wire else None

    conditions: list[Condition] = []
    parent_problem = _parent_problem(inputs)
    if inputs.is_ticker:
        if parent_problem is None and inputs.parent is not None:
            parent = inputs.parent
            message = f"ParentModel '{parent.name}' is Ready with {parent.model_name} v{parent.model_version}"
            conditions.append(c.make(PARENT_READY, "True", "ParentReady", message))
        else:
            problem = parent_problem or ("ParentNotFound", "no parent")
            conditions.append(c.make(PARENT_READY, "False", *problem))
    trained = _trained_condition(inputs, training, metrics, parent_problem, c)
    conditions.append(trained)

    promoted = serving = None
    inference = previous.inference if isinstance(previous, TickerModelStatus) else None
    if inputs.is_ticker:
        promoted = _promoted_condition(inputs, training, c)
        serving, inference = _serving(inputs, mlflow.serving_version if mlflow else None, c)
        conditions += [promoted, serving]

    phase, is_ready, ready = _phase(
        inputs, training, trained, parent_problem, mlflow, promoted, serving, inference
    )
    conditions.append(c.make(READY, "True" if is_ready else "False", *ready))
    common = {
        "observed_generation": inputs.generation,
        "phase": phase,
        "conditions": conditions,
        "training": _training_block(inputs, training),
        "metrics": metrics,
        "backtest": backtest,
        "mlflow": mlflow,
        "synthetic": synthetic,
    }
    if inputs.is_ticker:
        monitoring = previous.monitoring if isinstance(previous, TickerModelStatus) else None
        conditions += [c for c in previous.conditions or () if c.type in ("Drifted", "Degraded")]
        return TickerModelStatus(
            **common, parent=_parent_link(inputs), inference=inference, monitoring=monitoring
        )
    return ModelStatus(**common)
