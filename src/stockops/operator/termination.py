"""The trainer's one-line JSON summary (its container termination message), parsed.

Success: {"ok": true, "ticker", "model_name", "model_version", "run_id", "promoted",
"promotion_reason", "production_version", "metrics": {...}, "synthetic"} and, when the resource asked
for a walk-forward backtest, "backtest": {...} (its compact summary). Failure: {"ok": false,
"reason": NoData | BadData | ParentIncompatible | ParentMissing | InvalidConfig | Error, "message"}.
The message may carry log lines too (terminationMessagePolicy FallbackToLogsOnError), so the last line
that parses as a JSON object wins; anything else becomes an `Error` result quoting the tail of the
text, so a crash is never reported as success.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

FAILURE_REASONS = (
    "NoData",
    "BadData",
    "ParentIncompatible",
    "ParentMissing",
    "InvalidConfig",
    "MlflowUnavailable",
    "RedisUnavailable",
    "Error",
)


class TrainerResult(BaseModel):
    """What a training run reported; `ok` decides which fields are meaningful."""

    model_config = ConfigDict(extra="ignore", frozen=True, protected_namespaces=())

    ok: bool
    ticker: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    run_id: str | None = None
    promoted: bool | None = None
    promotion_reason: str | None = None
    production_version: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    backtest: dict[str, Any] | None = None
    synthetic: bool | None = None
    reason: str | None = None
    message: str | None = None

    @field_validator("model_version", "production_version", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> object:
        """MLflow versions are numbers in some payloads and strings in others; status uses text."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def failure_reason(self) -> str:
        """A known CamelCase reason (unknown ones collapse to Error)."""
        return self.reason if self.reason in FAILURE_REASONS else "Error"


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def parse_termination_message(text: str | None) -> TrainerResult | None:
    """The trainer result in `text`; None when there is no text at all."""
    if text is None or not text.strip():
        return None
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            data = json.loads(line)
            result = TrainerResult.model_validate(data)
        except (ValueError, ValidationError):
            continue
        return result
    tail = text.strip()[-500:]
    return TrainerResult(ok=False, reason="Error", message=f"unparseable termination message: {tail}")


_METRIC_KEYS = {
    "rmse": "rmse",
    "mae": "mae",
    "mape": "mape",
    "naive_rmse": "naiveRmse",
    "skill": "skill",
    "directional_accuracy": "directionalAccuracy",
    "skill_ci_low": "skillLow",
    "skill_ci_high": "skillHigh",
    "skill_vs_drift": "skillVsDrift",
    "drift_rmse": "driftRmse",
    "up_rate": "upRate",
    "interval_coverage": "intervalCoverage",
    "pinball": "pinball",
    "ewma_coverage": "ewmaCoverage",
    "ewma_pinball": "ewmaPinball",
}
_HORIZON_ONLY_KEYS = {
    "shrinkage": "shrinkage",
    "interval_low": "intervalLow",
    "interval_high": "intervalHigh",
}
_COUNT_KEYS = {"directional_count": "directionalCount"}
_RANGE_KEYS = {
    "train_end": "trainEnd",
    "val_end": "valEnd",
    "test_end": "testEnd",
    "refit_end": "refitEnd",
    "eval_weights_end": "evalWeightsEnd",
    "parent_cutoff": "parentCutoff",
}


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value) if value >= 0 else None


def metrics_to_status(metrics: dict[str, Any]) -> dict[str, Any]:
    """The trainer's snake_case metrics as the status `metrics` block (finite numbers only)."""
    out: dict[str, Any] = {}
    for key, wire in _METRIC_KEYS.items():
        value = _finite(metrics.get(key))
        if value is not None:
            out[wire] = round(value, 6)
    for key, wire in _COUNT_KEYS.items():
        if (count := _count(metrics.get(key))) is not None:
            out[wire] = count
    per_horizon = []
    for index, item in enumerate(metrics.get("per_horizon") or []):
        if not isinstance(item, dict):
            continue
        horizon = item.get("horizon", item.get("step", index + 1))
        entry: dict[str, Any] = {"horizon": int(horizon) if isinstance(horizon, int | float) else index + 1}
        for key, wire in {**_METRIC_KEYS, **_HORIZON_ONLY_KEYS}.items():
            value = _finite(item.get(key))
            if value is not None:
                entry[wire] = round(value, 6)
        for key, wire in _COUNT_KEYS.items():
            if (count := _count(item.get(key))) is not None:
                entry[wire] = count
        per_horizon.append(entry)
    if per_horizon:
        out["perHorizon"] = per_horizon[:60]
    ranges = metrics.get("data_ranges")
    if isinstance(ranges, dict):
        for key, wire in _RANGE_KEYS.items():
            if isinstance(ranges.get(key), str):
                out[wire] = ranges[key][:10]
    if isinstance(metrics.get("no_edge"), bool):
        out["noEdge"] = metrics["no_edge"]
    return out


_BACKTEST_COUNTS = {"folds": "folds", "fold_windows": "foldWindows"}
_BACKTEST_DATES = {"test_start": "testStart", "test_end": "testEnd"}
_BACKTEST_KEYS = {
    "median_skill": "medianSkill",
    "mean_skill": "meanSkill",
    "positive_fraction": "positiveFraction",
    "pooled_skill": "skill",
    "pooled_skill_ci_low": "skillLow",
    "pooled_skill_ci_high": "skillHigh",
    "interval_coverage": "intervalCoverage",
    "directional_accuracy": "directionalAccuracy",
    "up_rate": "upRate",
    "sharpe": "sharpe",
    "buy_hold_sharpe": "buyHoldSharpe",
    "annual_return": "annualReturn",
    "buy_hold_annual_return": "buyHoldAnnualReturn",
    "max_drawdown": "maxDrawdown",
    "buy_hold_max_drawdown": "buyHoldMaxDrawdown",
    "turnover": "turnover",
    "exposure": "exposure",
    "cost": "cost",
}


def backtest_to_status(backtest: dict[str, Any] | None) -> dict[str, Any] | None:
    """The trainer's compact walk-forward summary as the status `backtest` block (None: no backtest)."""
    if not isinstance(backtest, dict):
        return None
    out: dict[str, Any] = {}
    for key, wire in _BACKTEST_COUNTS.items():
        if (count := _count(backtest.get(key))) is not None:
            out[wire] = count
    for key, wire in _BACKTEST_DATES.items():
        if isinstance(backtest.get(key), str):
            out[wire] = backtest[key][:10]
    for key, wire in _BACKTEST_KEYS.items():
        value = _finite(backtest.get(key))
        if value is not None:
            out[wire] = round(value, 6)
    return out or None
