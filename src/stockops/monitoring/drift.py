"""Input drift of a served model: its training feature rows (reference) vs the newest sessions (current).

Only the model's own inputs are compared (``feature_spec.columns``: returns and indicators, stationary by
construction); prices and levels always look drifted and say nothing about whether the model still sees
the world it learned. Evidently (0.7 API: ``Report`` + ``DataDriftPreset`` over a ``Dataset`` with an
explicit ``DataDefinition``) picks and runs one statistical test per column; what it picked, its score and
its threshold are recorded per column, so a verdict can be checked by hand.

Degenerate columns (all NaN, constant on either side) are screened out before Evidently sees them and
reported as not testable: Evidently either raises on them or answers a meaningless test (a constant
column reads as binary and gets a Z-test). A column Evidently still raises on is isolated by re-running
column by column, so one bad column never hides the others. Too few current rows is a verdict
(``InsufficientData``), not an error: a new listing or a stale store is a state the user can act on.

The default test is two-sample K-S at p < 0.05 for every column (``method="ks"``), not Evidently's
automatic choice, which switches to normed Wasserstein at 0.1 once the reference has more than 1000 rows
(any long training history). Measured on ^GSPC (2006-2026, reference the first 70 %, 16 windows of 60
sessions taken *from inside the reference*, `benchmarks/drift_check.py --calibration 16`): the automatic
choice called 16 of 16 of those windows drifted with share 1.0, PSI 16 of 16 (mean share 0.98), K-S 14 of
16 (mean share 0.68). No per-column test that assumes independent rows is calibrated on 60 consecutive
sessions of autocorrelated indicators (volatility, MACD, moving-average gaps move in regimes), so read
``Drifted`` as "outside the training regime", not as an error rate of 5 %. `stockops.monitoring.check`
therefore passes per-feature thresholds calibrated on the reference's own windows
(`stockops.monitoring.calibration`) for K-S; ``thresholds`` here takes any per-column thresholds.

Evidently is imported inside `check_drift` (seconds to import); nothing else here needs it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_WINDOW = 60  # current sessions: about a quarter, enough for a two-sample test per column
MIN_CURRENT_ROWS = 20
MIN_REFERENCE_ROWS = 100
DEFAULT_DRIFT_SHARE = 0.5  # Evidently's dataset-drift rule: drifted when at least this share drifts
DEFAULT_METHOD = "ks"  # see the module docstring: Evidently's automatic choice flags every window


class DriftVerdict(StrEnum):
    NO_DRIFT = "NoDrift"
    DRIFTED = "Drifted"
    INSUFFICIENT_DATA = "InsufficientData"


@dataclass(frozen=True)
class FeatureDrift:
    """One column's test. ``score_kind`` says how to read it: a p-value drifts when below the
    threshold, a distance when at or above it (Evidently's convention)."""

    column: str
    drifted: bool
    stattest: str
    score: float
    threshold: float
    score_kind: str  # "p_value" | "distance"


@dataclass(frozen=True)
class UntestableColumn:
    column: str
    reason: str


@dataclass(frozen=True)
class DriftSummary:
    verdict: DriftVerdict
    checked_at: datetime
    reference_rows: int
    current_rows: int
    features: tuple[FeatureDrift, ...] = ()
    untestable: tuple[UntestableColumn, ...] = ()
    share: float | None = None  # drifted / tested columns; None when nothing was tested
    drift_share: float = DEFAULT_DRIFT_SHARE
    current_start: str | None = None  # first and last current session (ISO dates) when indexed by date
    current_end: str | None = None
    message: str = ""
    report_path: str | None = field(default=None, compare=False)
    calibration_windows: int = 0  # reference windows the per-feature thresholds were calibrated on

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.column for f in self.features if f.drifted)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict.value
        out["checked_at"] = self.checked_at.isoformat()
        out["drifted_features"] = list(self.drifted_features)
        return out


def degenerate_reason(reference: pd.Series, current: pd.Series) -> str | None:
    """Why a column cannot be tested (None when it can): all NaN or constant on either side."""
    for side, values in (("reference", reference), ("current", current)):
        finite = values[np.isfinite(values.to_numpy(dtype=np.float64))]
        if finite.empty:
            return f"all NaN in the {side} rows"
        if finite.nunique() <= 1:
            return f"constant in the {side} rows ({float(finite.iloc[0]):g})"
    return None


def check_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str],
    *,
    min_current_rows: int = MIN_CURRENT_ROWS,
    min_reference_rows: int = MIN_REFERENCE_ROWS,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    method: str | None = DEFAULT_METHOD,
    checked_at: datetime | None = None,
    html_path: Path | None = None,
    thresholds: Mapping[str, float] | None = None,
    calibration_windows: int = 0,
) -> DriftSummary:
    """Test every column of ``columns`` for drift from ``reference`` to ``current``.

    ``method`` is the Evidently stattest for every column (default K-S, e.g. ``"wasserstein"``,
    ``"psi"``); None lets Evidently choose by column and sample size (K-S up to 1000 reference rows,
    normed Wasserstein above). With ``html_path`` Evidently's HTML report is written there (only when
    something was tested). ``thresholds``: per-column thresholds (`calibration.calibrate_ks`) instead
    of the method's default; ``calibration_windows`` records how many reference windows they came from.
    """
    checked_at = checked_at or datetime.now(UTC)
    base = {
        "checked_at": checked_at,
        "reference_rows": len(reference),
        "current_rows": len(current),
        "drift_share": drift_share,
        **_date_range(current),
    }
    untestable: list[UntestableColumn] = []
    testable: list[str] = []
    for column in columns:
        missing = [side for side, f in (("reference", reference), ("current", current)) if column not in f]
        if missing:
            untestable.append(UntestableColumn(column, f"missing from the {' and '.join(missing)} rows"))
            continue
        reason = degenerate_reason(reference[column], current[column])
        if reason:
            untestable.append(UntestableColumn(column, reason))
        else:
            testable.append(column)

    short = []
    if len(current) < min_current_rows:
        short.append(f"{len(current)} current sessions (at least {min_current_rows} needed)")
    if len(reference) < min_reference_rows:
        short.append(f"{len(reference)} reference rows (at least {min_reference_rows} needed)")
    if not short and not testable:
        short.append("no testable column")
    if short:
        return DriftSummary(
            verdict=DriftVerdict.INSUFFICIENT_DATA,
            untestable=tuple(untestable),
            message="insufficient data: " + "; ".join(short),
            **base,
        )

    features, failed = _run_evidently(reference, current, testable, method, html_path, thresholds)
    untestable.extend(failed)
    if not features:
        return DriftSummary(
            verdict=DriftVerdict.INSUFFICIENT_DATA,
            untestable=tuple(untestable),
            message="insufficient data: no column could be tested",
            **base,
        )
    drifted = sum(f.drifted for f in features)
    share = drifted / len(features)
    verdict = DriftVerdict.DRIFTED if share >= drift_share else DriftVerdict.NO_DRIFT
    how = f"; thresholds calibrated on {calibration_windows} reference windows" if calibration_windows else ""
    return DriftSummary(
        verdict=verdict,
        features=tuple(features),
        untestable=tuple(untestable),
        share=share,
        calibration_windows=calibration_windows,
        message=(
            f"{drifted} of {len(features)} features drifted (dataset drift at share >= {drift_share:g}{how})"
        ),
        report_path=str(html_path) if html_path is not None and html_path.exists() else None,
        **base,
    )


def _date_range(frame: pd.DataFrame) -> dict[str, str | None]:
    if isinstance(frame.index, pd.DatetimeIndex) and len(frame):
        return {
            "current_start": frame.index[0].date().isoformat(),
            "current_end": frame.index[-1].date().isoformat(),
        }
    return {"current_start": None, "current_end": None}


def _run_evidently(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    method: str | None,
    html_path: Path | None,
    thresholds: Mapping[str, float] | None = None,
) -> tuple[list[FeatureDrift], list[UntestableColumn]]:
    """All columns in one report; when Evidently raises, column by column to isolate the bad ones."""
    if method is not None:  # a misspelt method is the caller's error, not every column's
        from evidently.legacy.calculations.stattests.registry import get_registered_stattest
        from evidently.legacy.core import ColumnType

        get_registered_stattest(method, ColumnType.Numerical)
    try:
        return _evidently_report(reference, current, columns, method, html_path, thresholds), []
    except Exception:  # Evidently's failures have no common type: isolate them column by column
        pass
    features: list[FeatureDrift] = []
    failed: list[UntestableColumn] = []
    for column in columns:
        try:
            features.extend(_evidently_report(reference, current, [column], method, None, thresholds))
        except Exception as exc:  # reported per column, the others still run
            failed.append(UntestableColumn(column, f"evidently failed: {type(exc).__name__}: {exc}"))
    if features and html_path is not None:
        _evidently_report(reference, current, [f.column for f in features], method, html_path, thresholds)
    return features, failed


def _evidently_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    method: str | None,
    html_path: Path | None,
    thresholds: Mapping[str, float] | None = None,
) -> list[FeatureDrift]:
    import warnings

    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=list(columns))

    def dataset(frame: pd.DataFrame) -> Any:
        data = frame[list(columns)].astype("float64").reset_index(drop=True)
        return Dataset.from_pandas(data, data_definition=definition)

    per_column = {c: float(thresholds[c]) for c in columns if thresholds and c in thresholds} or None
    preset = DataDriftPreset(columns=list(columns), method=method, per_column_threshold=per_column)
    report = Report([preset], include_tests=True)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy inside the stattests on tiny samples
        snapshot = report.run(dataset(current), dataset(reference))
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))
    return parse_snapshot(snapshot.dict(), columns, display_names=_display_names(method))


def _display_names(method: str | None) -> dict[str, tuple[str, float]]:
    """A forced method's short name -> (display name, default threshold): the snapshot records the name
    it was given, the auto-chosen ones by display name."""
    if method is None:
        return {}
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    test = get_registered_stattest(method, ColumnType.Numerical)
    return {method: (test.display_name, test.default_threshold)}


def parse_snapshot(
    payload: dict[str, Any],
    columns: Sequence[str],
    *,
    display_names: dict[str, tuple[str, float]] | None = None,
) -> list[FeatureDrift]:
    """Per-column results from an Evidently snapshot's ``dict()``: the ValueDrift metrics (resolved
    method, threshold, score) joined to their drift tests (FAIL = drifted) by metric id."""
    status = {
        t["metric_config"]["metric_id"]: t["status"]
        for t in payload.get("tests", [])
        if t.get("id") == "drift" and "metric_config" in t
    }
    found: dict[str, FeatureDrift] = {}
    for metric in payload.get("metrics", []):
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith(":ValueDrift"):
            continue
        column, stattest = config["column"], str(config["method"])
        stattest, default_threshold = (display_names or {}).get(stattest, (stattest, math.nan))
        threshold = float(default_threshold if config.get("threshold") is None else config["threshold"])
        score = float(metric["value"])
        kind = "p_value" if "p_value" in stattest else "distance"
        if metric["id"] in status:
            drifted = status[metric["id"]] == "FAIL"
        else:  # no test attached: Evidently's own rule
            drifted = score < threshold if kind == "p_value" else score >= threshold
        found[column] = FeatureDrift(column, bool(drifted), stattest, score, threshold, kind)
    missing = [c for c in columns if c not in found or not math.isfinite(found[c].score)]
    if missing:
        raise ValueError(f"evidently returned no finite drift score for {missing}")
    return [found[c] for c in columns]
