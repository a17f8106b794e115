"""Request and response models of the HTTP API: the contract the console and both backends share.

Requests are strict (``extra="forbid"``, no type coercion: ``"5"`` is not a number of days), validated
once here at the edge, and reach a backend as typed values. Tickers are case-insensitive and
upper-cased, then must match the CRD's ticker pattern. Responses are documented in OpenAPI through these
models; response models allow extra keys so a backend can add detail without breaking a client.

Phases (``TaskStatus.phase``): a training is ``Pending`` (queued), ``WaitingForParent`` (a new child whose
parent trains first), ``Training``, then ``Ready`` (a promoted version is served) or ``Failed``; an
analysis is ``Pending``, ``Running``, then ``Succeeded`` or ``Failed``. In a cluster the CR's own phases
(``Deploying``, ``Suspended``) pass through unchanged. ``done`` is true once nothing more will happen.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from stockops.gateway.names import TICKER_PATTERN, TaskKind, normalize_ticker

DEFAULT_PARENT_TICKER = "^GSPC"
MAX_DAYS = 250  # ModelConfig.horizon_days' upper bound; the model's own horizon is checked by the backend
MAX_EPOCHS = 1000  # TrainingSpec.epochs' bound in the CRD
MIN_QUESTION_CHARS = 3
MAX_QUESTION_CHARS = 2000  # stockops.agent.run.MAX_QUESTION_CHARS
MAX_HISTORY_DAYS = 5000

Phase = Literal[
    "Pending",
    "WaitingForParent",
    "Training",
    "Deploying",
    "Running",
    "Ready",
    "Succeeded",
    "Failed",
    "Suspended",
]
TERMINAL_PHASES: frozenset[str] = frozenset({"Ready", "Succeeded", "Failed"})
ACTIVE_PHASES: frozenset[str] = frozenset({"Pending", "WaitingForParent", "Training", "Deploying", "Running"})


def _ticker(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string such as AAPL, got {type(value).__name__}")
    return normalize_ticker(value)


def _question(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {type(value).__name__}")
    text = " ".join(value.split())
    if not MIN_QUESTION_CHARS <= len(text) <= MAX_QUESTION_CHARS:
        raise ValueError(
            f"must have {MIN_QUESTION_CHARS} to {MAX_QUESTION_CHARS} characters (spaces collapsed), "
            f"got {len(text)}"
        )
    return text


def _days(value: int) -> int:
    if not 1 <= value <= MAX_DAYS:
        raise ValueError(
            f"must be between 1 and the model's horizon (no model forecasts more than {MAX_DAYS} sessions; "
            f"the default models forecast 5), got {value}"
        )
    return value


Ticker = Annotated[
    str,
    BeforeValidator(_ticker),
    Field(
        description="Stock or index symbol, case-insensitive (upper-cased), e.g. AAPL, ^GSPC, BRK.B.",
        json_schema_extra={"pattern": TICKER_PATTERN, "maxLength": 16},
        examples=["AAPL"],
    ),
]
Days = Annotated[
    int,
    AfterValidator(_days),
    Field(
        description="Trading sessions ahead: 1 .. the model's horizon (at most 250).",
        json_schema_extra={"minimum": 1, "maximum": MAX_DAYS},
    ),
]
Epochs = Annotated[int, Field(ge=1, le=MAX_EPOCHS, description="Maximum training epochs.")]
Question = Annotated[
    str,
    BeforeValidator(_question),
    Field(
        description="The question asked.",
        json_schema_extra={"minLength": MIN_QUESTION_CHARS, "maxLength": MAX_QUESTION_CHARS},
    ),
]


class StrictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PredictChildRequest(StrictRequest):
    ticker: Ticker
    days: Days = 5


class PredictParentRequest(StrictRequest):
    ticker: Ticker = DEFAULT_PARENT_TICKER
    days: Days = 5


class TrainParentRequest(StrictRequest):
    ticker: Ticker = DEFAULT_PARENT_TICKER
    epochs: Epochs | None = None


class TrainChildRequest(StrictRequest):
    ticker: Ticker
    parent: Ticker | None = Field(default=None, description="Parent ticker (default: the gateway's, ^GSPC).")
    strategy: Literal["freeze", "fine-tune"] | None = Field(
        default=None, description="Default: the template's."
    )
    epochs: Epochs | None = None

    @field_validator("parent")
    @classmethod
    def _parent_is_another_ticker(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and value == info.data.get("ticker"):
            raise ValueError(f"must be another ticker than the child {value}")
        return value


class AnalyzeRequest(StrictRequest):
    ticker: Ticker
    question: Question


class TrainingOptions(BaseModel):
    """What a caller may choose about a training; everything else comes from the template."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parent: str | None = None
    strategy: Literal["freeze", "fine-tune"] | None = None
    epochs: int | None = None


# --- responses -------------------------------------------------------------------------------------


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class PricePoint(BaseModel):
    date: dt.date
    close: float


class ForecastPoint(PricePoint):
    low: float | None = Field(default=None, description="10 % bound; null when the model has no interval.")
    high: float | None = Field(default=None, description="90 % bound.")


class Interval(BaseModel):
    low_quantile: float
    high_quantile: float


class ForecastResponse(BaseModel):
    ticker: str
    model_name: str
    model_version: str
    as_of: dt.date = Field(description="Date of the last close the forecast starts from.")
    days: int
    last_close: float
    forecast: list[ForecastPoint] = Field(description="Median path with its interval, one per session.")
    naive: list[PricePoint] = Field(description="The random walk: the last close carried forward.")
    interval: Interval | None
    no_edge: bool = Field(description="True: validation showed no edge, the forecast is the random walk.")
    synthetic: bool = Field(description="True: trained or fed on synthetic prices (a demo, not a market).")
    data_source: str | None = None
    data_note: str | None = None
    cached: bool = Field(description="True: answered from the gateway's forecast cache.")


class TaskAccepted(BaseModel):
    status: Literal["training", "analyzing"]
    task_id: str = Field(examples=["tickermodel/aapl/1"])
    status_url: str = Field(examples=["/status/tickermodel/aapl/1"])
    ticker: str
    phase: Phase


class Condition(BaseModel):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str | None = None


class HorizonMetrics(Loose):
    step: int
    rmse: float | None = None
    naive_rmse: float | None = None
    skill: float | None = None
    skill_ci_low: float | None = None
    skill_ci_high: float | None = None
    directional_accuracy: float | None = None


class ModelMetrics(Loose):
    """Test-split metrics (never seen in training): skill = 1 - RMSE/RMSE_random_walk with its 95 % CI."""

    skill: float | None = None
    skill_ci_low: float | None = None
    skill_ci_high: float | None = None
    skill_vs_drift: float | None = None
    rmse: float | None = None
    mae: float | None = None
    mape: float | None = None
    naive_rmse: float | None = None
    drift_rmse: float | None = None
    directional_accuracy: float | None = None
    up_rate: float | None = None
    interval_coverage: float | None = None
    n_windows: int | None = None
    no_edge: bool | None = None
    per_horizon: list[HorizonMetrics] = Field(default_factory=list)


class AnalysisReport(Loose):
    stance: str
    confidence: str
    summary: str = ""
    markdown: str = ""
    cached: bool = False
    generator: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    data_date: str | None = None
    critic_score: float | None = None


class TaskStatus(BaseModel):
    task_id: str
    kind: TaskKind
    name: str
    ticker: str
    phase: Phase
    done: bool = Field(description="True once the task will not change any more.")
    progress: int = Field(ge=0, le=100, description="Percent done (epochs for a training).")
    epoch: int | None = None
    epochs: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    metrics: ModelMetrics | None = None
    result: AnalysisReport | None = None
    message: str = ""
    model_name: str | None = None
    model_version: str | None = None
    parent_task_id: str | None = Field(default=None, description="The parent training this one waits for.")
    created_at: str | None = None
    updated_at: str | None = None


class LiveResult(Loose):
    verdict: str
    n_forecasts: int = 0
    n_points: int = 0
    rmse: float | None = None
    naive_rmse: float | None = None
    skill: float | None = None
    skill_ci_low: float | None = None
    skill_ci_high: float | None = None
    coverage: float | None = None
    directional_accuracy: float | None = None
    message: str = ""


class DriftFeature(Loose):
    column: str
    drifted: bool
    stattest: str | None = None
    score: float | None = None
    threshold: float | None = None


class DriftResult(Loose):
    ticker: str
    model_name: str | None = None
    model_version: str | None = None
    verdict: str = Field(description="NoDrift, Drifted or InsufficientData.")
    checked_at: str | None = None
    share: float | None = None
    drifted_features: list[str] = Field(default_factory=list)
    features: list[DriftFeature] = Field(default_factory=list)
    message: str = ""
    monitor_run_id: str | None = None
    live: LiveResult | None = None


class TickerSummary(BaseModel):
    ticker: str
    name: str
    kind: Literal["parent", "child"] | None = None
    phase: Phase
    skill: float | None = None
    live_skill: float | None = None
    model_version: str | None = None
    task_id: str | None = None


class TickerDetail(BaseModel):
    ticker: str
    name: str
    kind: Literal["parent", "child"] | None = None
    phase: Phase
    progress: int = Field(ge=0, le=100)
    task_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    parent: str | None = Field(default=None, description="The parent version a child transferred from.")
    horizon_days: int | None = None
    data_as_of: str | None = None
    synthetic: bool | None = None
    no_edge: bool | None = None
    metrics: ModelMetrics | None = None
    live: LiveResult | None = None
    drift: DriftResult | None = None
    message: str = ""


class ResetResult(BaseModel):
    mode: Literal["local", "cluster"]
    removed: list[str] = Field(description="What was deleted (paths under STOCKOPS_HOME, or resources).")
    tasks_removed: int = 0
    cache_entries_removed: int = 0


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    mode: Literal["local", "cluster"]
    version: str
    rate_limiter: str
    backend: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    detail: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = None
