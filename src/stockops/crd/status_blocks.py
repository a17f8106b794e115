"""Status of ParentModel and TickerModel: what the operator observed, written only by the operator.

Shapes follow Kubernetes conventions (conditions with reasons and lastTransitionTime,
observedGeneration) and Kubeflow/KServe practice (a progress block, metrics, the serving URL).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stockops.crd.base import CrdModel

Phase = Literal["Pending", "WaitingForParent", "Training", "Deploying", "Ready", "Failed", "Suspended"]
PHASES: tuple[str, ...] = Phase.__args__  # type: ignore[attr-defined]
ConditionStatus = Literal["True", "False", "Unknown"]
RetrainReason = Literal["Created", "SpecChanged", "ParentChanged", "Manual", "Scheduled", "Drift", "Degraded"]
RETRAIN_REASONS: tuple[str, ...] = RetrainReason.__args__  # type: ignore[attr-defined]
# metav1.Condition's reason rule: CamelCase-ish, letters first; the API server enforces it on status.
REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
# Conditions are a map keyed by type (server-side apply merges them per type).
CONDITIONS_LIST: dict[str, object] = {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}


class Condition(CrdModel):
    """One observed aspect of the resource (Kubernetes condition convention)."""

    type: str = Field(
        max_length=64,
        description="Aspect: ParentReady, Trained, Promoted, ServingReady or Ready.",
    )
    status: ConditionStatus = Field(description="'True', 'False' or 'Unknown'.")
    reason: str = Field(
        min_length=1,
        max_length=128,
        pattern=REASON_PATTERN,
        description="One CamelCase word for the last transition, e.g. WaitingForParent, NoData.",
    )
    message: str = Field(
        default="", max_length=4096, description="Human-readable detail: what and what next."
    )
    last_transition_time: str = Field(
        description="When status last changed (RFC 3339); unchanged when only reason or message change.",
        json_schema_extra={"format": "date-time"},
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation the condition was computed for."
    )


class TrainingStatus(CrdModel):
    """The training Job for the current generation and its progress (read from MLflow)."""

    job_name: str | None = Field(default=None, description="Name of the training Job.")
    attempt: int | None = Field(default=None, ge=0, description="Pods started so far (1 + retries).")
    epoch: int | None = Field(default=None, ge=0, description="Last finished epoch.")
    epochs: int | None = Field(default=None, ge=0, description="Planned epochs (training may stop early).")
    progress_percent: int | None = Field(default=None, ge=0, le=100, description="epoch / epochs in percent.")
    start_time: str | None = Field(default=None, description="When the Job started (RFC 3339).")
    completion_time: str | None = Field(
        default=None, description="When the Job finished, successfully or not (RFC 3339)."
    )
    scheduled_at: str | None = Field(
        default=None, description="The spec.retrain.schedule firing that started this training, if any."
    )
    retrain_request: str | None = Field(
        default=None, description="Value of the stockops.io/retrain annotation this training answers, if any."
    )
    reason: RetrainReason | None = Field(
        default=None,
        description=(
            "Why this training started: Created, SpecChanged, ParentChanged, Manual (stockops.io/retrain), "
            "Scheduled (retrain.schedule), Drift or Degraded (a monitoring check)."
        ),
    )
    check_time: str | None = Field(
        default=None,
        description="checkedAt of the monitoring check that started this training (reason Drift/Degraded).",
    )
    failed_attempts: int | None = Field(
        default=None, ge=0, description="Pods of this Job that failed so far."
    )
    last_failure: str | None = Field(
        default=None,
        max_length=1024,
        description="Reason and message of the latest failed attempt (kept while the Job retries).",
    )
    identity: str | None = Field(
        default=None,
        max_length=32,
        description=(
            "Hash of the spec fields that change the trained model (ticker, parent, data, features, "
            "model, training, transfer, evaluation, trainer image): a change of serving, promotion, "
            "monitoring, resources or suspend keeps it, so it does not retrain."
        ),
    )


class HorizonMetrics(CrdModel):
    """Test-split metrics for one forecast step (k trading days ahead)."""

    horizon: int = Field(ge=1, description="Steps ahead (1 = next trading day).")
    rmse: float | None = Field(default=None, description="Root mean squared error in price units.")
    mae: float | None = Field(default=None, description="Mean absolute error in price units.")
    mape: float | None = Field(default=None, description="Mean absolute percentage error (percent).")
    naive_rmse: float | None = Field(
        default=None, description="RMSE of the random walk (last close carried)."
    )
    skill: float | None = Field(
        default=None, description="1 - rmse / naiveRmse; above 0 beats the random walk."
    )
    directional_accuracy: float | None = Field(
        default=None,
        description=(
            "Share of test days whose up/down direction was right (0 to 1), over the days the model "
            "predicted a move; absent with directionalCount 0 when it predicts none (no direction)."
        ),
    )
    directional_count: int | None = Field(
        default=None, ge=0, description="Test days scored for direction (a move predicted and realised)."
    )
    skill_low: float | None = Field(
        default=None, description="Lower end of the 95 % bootstrap interval of skill."
    )
    skill_high: float | None = Field(
        default=None, description="Upper end of the 95 % bootstrap interval of skill."
    )
    skill_vs_drift: float | None = Field(
        default=None, description="1 - rmse / driftRmse: skill against the random walk with training drift."
    )
    drift_rmse: float | None = Field(
        default=None, description="RMSE of the random walk with the training period's drift."
    )
    up_rate: float | None = Field(
        default=None, description="Directional accuracy of always forecasting 'up' (the base rate)."
    )
    shrinkage: float | None = Field(
        default=None,
        description="Lambda in [0, 1] the forecast is multiplied by (fitted on validation; 0 = random walk).",
    )
    interval_coverage: float | None = Field(
        default=None,
        description="Share of test outcomes inside the 10-90 % prediction interval (nominal 0.80).",
    )
    pinball: float | None = Field(
        default=None,
        description="Mean 10/50/90 % pinball loss on the test part (price units; lower is better).",
    )
    ewma_coverage: float | None = Field(
        default=None, description="Coverage of the EWMA-volatility Gaussian interval (the baseline)."
    )
    ewma_pinball: float | None = Field(
        default=None, description="Pinball loss of the EWMA-volatility baseline."
    )
    interval_low: float | None = Field(
        default=None,
        description="10 % bound as a log-return offset from the forecast (calibration residuals).",
    )
    interval_high: float | None = Field(
        default=None,
        description="90 % bound as a log-return offset from the forecast (calibration residuals).",
    )


class MetricsStatus(CrdModel):
    """Metrics of the latest finished training, on the held-out chronological test split."""

    rmse: float | None = Field(default=None, description="Test RMSE in price units, all horizons.")
    mae: float | None = Field(default=None, description="Test MAE in price units, all horizons.")
    mape: float | None = Field(default=None, description="Test MAPE in percent.")
    naive_rmse: float | None = Field(default=None, description="Random-walk RMSE on the same test windows.")
    skill: float | None = Field(
        default=None, description="1 - rmse / naiveRmse; above 0 beats the random walk."
    )
    directional_accuracy: float | None = Field(
        default=None,
        description=(
            "Share of test forecasts with the right up/down direction (0 to 1), over those where the "
            "model predicted a move; absent with directionalCount 0 when it predicts none (no direction)."
        ),
    )
    directional_count: int | None = Field(
        default=None,
        ge=0,
        description="(day, step) pairs scored for direction (a move predicted and realised).",
    )
    skill_low: float | None = Field(
        default=None, description="Lower end of the 95 % block-bootstrap interval of skill."
    )
    skill_high: float | None = Field(
        default=None, description="Upper end of the 95 % block-bootstrap interval of skill."
    )
    skill_vs_drift: float | None = Field(
        default=None, description="1 - rmse / driftRmse: skill against the random walk with training drift."
    )
    drift_rmse: float | None = Field(
        default=None, description="RMSE of the random walk with the training period's drift."
    )
    up_rate: float | None = Field(
        default=None, description="Directional accuracy of always forecasting 'up' (the base rate)."
    )
    interval_coverage: float | None = Field(
        default=None,
        description="Share of test outcomes inside the 10-90 % prediction interval (nominal 0.80).",
    )
    pinball: float | None = Field(
        default=None,
        description="Mean 10/50/90 % pinball loss on the test part (price units; lower is better).",
    )
    ewma_coverage: float | None = Field(
        default=None, description="Coverage of the EWMA-volatility Gaussian interval (the baseline)."
    )
    ewma_pinball: float | None = Field(
        default=None, description="Pinball loss of the EWMA-volatility baseline."
    )
    no_edge: bool | None = Field(
        default=None,
        description="True when validation gave no evidence of an edge: the model forecasts the random walk.",
    )
    per_horizon: list[HorizonMetrics] | None = Field(
        default=None, max_length=60, description="The same metrics per forecast step."
    )
    train_end: str | None = Field(
        default=None, max_length=10, description="Last target day of the train part."
    )
    val_end: str | None = Field(default=None, max_length=10, description="Last target day of validation.")
    test_end: str | None = Field(
        default=None, max_length=10, description="Last target day of the test part these metrics are on."
    )
    refit_end: str | None = Field(
        default=None,
        max_length=10,
        description="Last target day the served weights were refitted on (unset: the evaluated weights).",
    )
    eval_weights_end: str | None = Field(
        default=None,
        max_length=10,
        description="Last target day the evaluated weights depend on (train + early-stopping part).",
    )
    parent_cutoff: str | None = Field(
        default=None,
        max_length=10,
        description="Last day the parent's evaluation weights saw (before this model's test period).",
    )


class BacktestStatus(CrdModel):
    """Walk-forward backtest of the latest finished training (spec.evaluation.walkForwardFolds).

    Every figure is out of sample: each fold was trained only on days before its test block."""

    folds: int | None = Field(default=None, ge=0, description="Expanding-window folds.")
    fold_windows: int | None = Field(default=None, ge=0, description="Test windows per fold.")
    test_start: str | None = Field(default=None, max_length=10, description="First test anchor (fold 1).")
    test_end: str | None = Field(default=None, max_length=10, description="Last test anchor (last fold).")
    median_skill: float | None = Field(
        default=None, description="Median of the folds' skill vs the random walk (1 - RMSE/naive RMSE)."
    )
    mean_skill: float | None = Field(default=None, description="Mean of the folds' skill.")
    positive_fraction: float | None = Field(
        default=None, description="Share of folds with skill >= 0 (not worse than the random walk)."
    )
    skill: float | None = Field(default=None, description="Skill of all out-of-sample windows pooled.")
    skill_low: float | None = Field(
        default=None, description="Lower end of the 95 % block-bootstrap interval of the pooled skill."
    )
    skill_high: float | None = Field(
        default=None, description="Upper end of the 95 % block-bootstrap interval of the pooled skill."
    )
    interval_coverage: float | None = Field(
        default=None, description="Pooled share of outcomes inside the 10-90 % interval (nominal 0.80)."
    )
    directional_accuracy: float | None = Field(
        default=None, description="Pooled directional accuracy where the model predicted a move."
    )
    up_rate: float | None = Field(
        default=None, description="Pooled accuracy of always forecasting 'up' (the base rate)."
    )
    sharpe: float | None = Field(
        default=None,
        description="Annualised Sharpe ratio of long/flat on the 1-day forecast sign, after costs "
        "(absent when the rule never holds a position).",
    )
    buy_hold_sharpe: float | None = Field(
        default=None, description="Annualised Sharpe ratio of buy-and-hold over the same days."
    )
    annual_return: float | None = Field(default=None, description="Annualised return of the rule.")
    buy_hold_annual_return: float | None = Field(
        default=None, description="Annualised return of buy-and-hold."
    )
    max_drawdown: float | None = Field(
        default=None, description="Largest fall of the rule's equity curve (a fraction, <= 0)."
    )
    buy_hold_max_drawdown: float | None = Field(
        default=None, description="Largest fall of buy-and-hold (a fraction, <= 0)."
    )
    turnover: float | None = Field(
        default=None, description="Position changes per year of the rule (2 per round trip)."
    )
    exposure: float | None = Field(default=None, description="Share of days the rule is long.")
    cost: float | None = Field(default=None, description="Cost per unit of position traded (a fraction).")


class MlflowStatus(CrdModel):
    """Where the latest training lives in MLflow, and the version being served."""

    run_id: str | None = Field(default=None, description="MLflow run of the latest finished training.")
    model_name: str | None = Field(default=None, description="Registered model name, e.g. stockops-aapl.")
    model_version: str | None = Field(default=None, description="Version registered by the latest training.")
    promoted: bool | None = Field(
        default=None, description="Whether that version passed the gate and became the 'production' alias."
    )
    promotion_reason: str | None = Field(default=None, description="Why it was or was not promoted.")
    serving_version: str | None = Field(
        default=None,
        description=(
            "Version in use: for a ParentModel the latest trained version (children transfer from it); "
            "for a TickerModel the latest promoted version (the predictor serves it)."
        ),
    )
    uri: str | None = Field(default=None, description="Link to the registered version in the MLflow UI.")


class InferenceStatus(CrdModel):
    """The KServe InferenceService serving this ticker."""

    name: str | None = Field(default=None, description="InferenceService name.")
    url: str | None = Field(
        default=None,
        description="KServe's external URL (status.url, through the cluster's ingress), once Ready.",
    )
    address: str | None = Field(
        default=None,
        description=(
            "In-cluster URL (KServe's status.address.url, the predictor Service), once Ready: what pods "
            "such as the gateway and the Analysis agent call."
        ),
    )
    ready: bool | None = Field(default=None, description="InferenceService Ready condition.")
    model_version: str | None = Field(
        default=None,
        description="Model version that serves: the predictor's pods of that version rolled out.",
    )
    rolling_out_version: str | None = Field(
        default=None,
        description="Model version the predictor is rolling out to (absent once it serves).",
    )


class ParentLink(CrdModel):
    """The parent model version a TickerModel trains from."""

    name: str | None = Field(default=None, description="ParentModel name.")
    ticker: str | None = Field(default=None, description="Parent's ticker.")
    model_name: str | None = Field(default=None, description="Parent's registered model name.")
    model_version: str | None = Field(default=None, description="Parent version the current training uses.")


class ModelStatus(CrdModel):
    """Observed state of a ParentModel or TickerModel."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation this status describes."
    )
    phase: Phase | None = Field(
        default=None,
        description=(
            "Summary: Pending, WaitingForParent, Training, Deploying (serving coming up), Ready, "
            "Failed or Suspended. Conditions carry the reasons."
        ),
    )
    conditions: list[Condition] | None = Field(
        json_schema_extra=CONDITIONS_LIST,
        default=None,
        max_length=16,
        description="Detailed state; every type is present from the first visit.",
    )
    training: TrainingStatus | None = Field(default=None, description="Training Job and progress.")
    metrics: MetricsStatus | None = Field(default=None, description="Test metrics of the latest training.")
    backtest: BacktestStatus | None = Field(
        default=None, description="Walk-forward backtest of the latest training, when the spec asks for one."
    )
    mlflow: MlflowStatus | None = Field(default=None, description="MLflow run and model versions.")
    synthetic: bool | None = Field(
        default=None, description="True when the latest training used synthetic prices (demo only)."
    )

    def condition(self, type_: str) -> Condition | None:
        """The condition of that type, if present."""
        return next((c for c in self.conditions or () if c.type == type_), None)


class DriftStatus(CrdModel):
    """The latest input-drift check of the served version (Evidently, one test per feature)."""

    checked_at: str | None = Field(default=None, description="When the check ran (RFC 3339).")
    verdict: Literal["Drifted", "NoDrift", "InsufficientData"] | None = Field(
        default=None, description="Drifted when at least driftShareThreshold of the tested features drifted."
    )
    model_version: str | None = Field(default=None, description="Model version whose reference was used.")
    share: float | None = Field(default=None, ge=0.0, le=1.0, description="Drifted / tested features.")
    drift_share_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Share at which the dataset counts as drifted."
    )
    drifted_features: list[str] | None = Field(
        default=None, max_length=64, description="Features whose test rejected 'same distribution'."
    )
    tested_features: int | None = Field(default=None, ge=0, description="Features tested.")
    untestable_features: list[str] | None = Field(
        default=None, max_length=64, description="Features not testable (constant, all missing)."
    )
    method: str | None = Field(default=None, max_length=64, description="Evidently stattest used.")
    window: int | None = Field(default=None, ge=0, description="Current sessions compared.")
    current_start: str | None = Field(default=None, max_length=10, description="First current session.")
    current_end: str | None = Field(default=None, max_length=10, description="Last current session.")
    report_uri: str | None = Field(default=None, description="The HTML report in MLflow.")
    run_id: str | None = Field(default=None, description="MLflow run of the check.")
    message: str | None = Field(default=None, max_length=1024, description="Why data was insufficient.")


class LiveStatus(CrdModel):
    """Realised error of the forecasts the predictor served, against the closes that followed."""

    checked_at: str | None = Field(default=None, description="When the check ran (RFC 3339).")
    verdict: Literal["Ok", "Degraded", "InsufficientData"] | None = Field(
        default=None, description="Degraded when the live skill's interval lies below 0."
    )
    model_version: str | None = Field(default=None, description="Model version whose forecasts were scored.")
    forecasts: int | None = Field(default=None, ge=0, description="Matured forecasts scored.")
    points: int | None = Field(default=None, ge=0, description="Forecast days scored (all horizons).")
    rmse: float | None = Field(default=None, description="Live RMSE in price units.")
    naive_rmse: float | None = Field(default=None, description="Random-walk RMSE on the same days.")
    skill: float | None = Field(default=None, description="1 - rmse / naiveRmse (live).")
    skill_low: float | None = Field(default=None, description="Lower end of the live skill's 90% interval.")
    skill_high: float | None = Field(default=None, description="Upper end of the live skill's 90% interval.")
    coverage: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Share of closes inside the served 10-90% interval."
    )
    directional_accuracy: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Share of days the forecast's direction was right."
    )
    first_as_of: str | None = Field(default=None, max_length=10, description="Oldest forecast scored.")
    last_as_of: str | None = Field(default=None, max_length=10, description="Newest forecast scored.")
    message: str | None = Field(default=None, max_length=1024, description="Why data was insufficient.")


class MonitoringStatus(CrdModel):
    """Monitoring of the served version: the check Job, drift and live error."""

    job_name: str | None = Field(default=None, description="The latest check Job.")
    last_check_time: str | None = Field(
        default=None, description="When the latest check finished (RFC 3339)."
    )
    scheduled_at: str | None = Field(
        default=None, description="The monitoring.schedule firing the latest check answers, if any."
    )
    request: str | None = Field(
        default=None, description="Value of the stockops.io/monitor annotation the latest check answers."
    )
    drift: DriftStatus | None = Field(default=None, description="Input drift.")
    live: LiveStatus | None = Field(default=None, description="Realised forecast error.")
    failure: str | None = Field(
        default=None, max_length=1024, description="Why the latest check failed (reason: message), if it did."
    )


class TickerModelStatus(ModelStatus):
    """Observed state of a TickerModel: the ParentModel status plus parent link and serving."""

    parent: ParentLink | None = Field(default=None, description="Parent model version in use.")
    inference: InferenceStatus | None = Field(default=None, description="Serving state.")
    monitoring: MonitoringStatus | None = Field(default=None, description="Drift and live-error checks.")
