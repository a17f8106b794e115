"""Drift of a model's inputs on synthetic frames whose answer is known (real Evidently underneath)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockops.monitoring.drift import DriftVerdict, check_drift, degenerate_reason

COLUMNS = ("ret", "rsi")


def frame(n: int, *, seed: int, shift: float = 0.0, start: str = "2010-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.bdate_range(start, periods=n)
    return pd.DataFrame(
        {"ret": rng.normal(shift, 1.0, n), "rsi": rng.normal(50.0 + 10 * shift, 10.0, n)}, index=index
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return frame(600, seed=1)


def test_same_distribution_is_not_drifted(reference: pd.DataFrame) -> None:
    summary = check_drift(reference, frame(60, seed=2, start="2015-01-01"), COLUMNS)
    assert summary.verdict is DriftVerdict.NO_DRIFT
    assert summary.share == 0.0
    assert [f.column for f in summary.features] == list(COLUMNS)
    ks = summary.features[0]
    assert ks.stattest == "K-S p_value" and ks.score_kind == "p_value" and ks.threshold == 0.05
    assert ks.score > ks.threshold and not ks.drifted
    assert (summary.reference_rows, summary.current_rows) == (600, 60)
    assert summary.current_start == "2015-01-01"


def test_shifted_mean_is_drifted(reference: pd.DataFrame, tmp_path: Path) -> None:
    html = tmp_path / "drift.html"
    at = datetime(2026, 1, 2, tzinfo=UTC)
    summary = check_drift(reference, frame(60, seed=3, shift=1.5), COLUMNS, checked_at=at, html_path=html)
    assert summary.verdict is DriftVerdict.DRIFTED
    assert summary.drifted_features == COLUMNS and summary.share == 1.0
    assert all(f.score < f.threshold for f in summary.features)
    assert html.stat().st_size > 10_000 and summary.report_path == str(html)
    payload = summary.to_dict()
    assert payload["verdict"] == "Drifted" and payload["checked_at"] == "2026-01-02T00:00:00+00:00"
    assert payload["drifted_features"] == ["ret", "rsi"]


def test_one_drifted_of_two_reaches_the_default_share(reference: pd.DataFrame) -> None:
    current = frame(60, seed=4)
    current["ret"] += 2.0
    summary = check_drift(reference, current, COLUMNS)
    assert summary.drifted_features == ("ret",) and summary.share == 0.5
    assert summary.verdict is DriftVerdict.DRIFTED
    assert check_drift(reference, current, COLUMNS, drift_share=0.75).verdict is DriftVerdict.NO_DRIFT


def test_degenerate_columns_are_untestable_and_the_rest_still_run(reference: pd.DataFrame) -> None:
    ref, cur = reference.copy(), frame(60, seed=5, shift=1.5)
    ref["flat"], cur["flat"] = 1.0, 1.0
    ref["empty"], cur["empty"] = np.nan, np.nan
    summary = check_drift(ref, cur, (*COLUMNS, "flat", "empty", "absent"))
    assert summary.verdict is DriftVerdict.DRIFTED
    assert [f.column for f in summary.features] == list(COLUMNS)
    reasons = {u.column: u.reason for u in summary.untestable}
    assert reasons["flat"].startswith("constant in the reference rows")
    assert reasons["empty"] == "all NaN in the reference rows"
    assert reasons["absent"] == "missing from the reference and current rows"


def test_a_column_flat_only_in_the_current_window_is_untestable() -> None:
    ref, cur = pd.Series([0.1, 0.2, 0.3]), pd.Series([0.0, 0.0, np.nan])
    assert degenerate_reason(ref, cur) == "constant in the current rows (0)"
    assert degenerate_reason(ref, ref) is None


def test_too_few_current_sessions_is_insufficient_data(reference: pd.DataFrame) -> None:
    summary = check_drift(reference, frame(5, seed=6), COLUMNS)
    assert summary.verdict is DriftVerdict.INSUFFICIENT_DATA
    assert summary.features == () and summary.share is None
    assert "5 current sessions (at least 20 needed)" in summary.message


def test_no_current_rows_at_all_is_insufficient_data(reference: pd.DataFrame) -> None:
    summary = check_drift(reference, reference.iloc[:0], COLUMNS)
    assert summary.verdict is DriftVerdict.INSUFFICIENT_DATA and summary.current_start is None


def test_a_forced_stattest_is_used_and_recorded(reference: pd.DataFrame) -> None:
    summary = check_drift(reference, frame(60, seed=7), COLUMNS, method="wasserstein")
    assert {f.stattest for f in summary.features} == {"Wasserstein distance (normed)"}
    assert all(f.score_kind == "distance" and f.threshold == 0.1 for f in summary.features)


def test_a_misspelt_stattest_is_an_error_not_an_untestable_column(reference: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="No stattest found of name nope"):
        check_drift(reference, frame(60, seed=8), COLUMNS, method="nope")


def test_a_column_evidently_raises_on_is_isolated_and_the_others_still_run(
    reference: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockops.monitoring import drift

    real = drift._evidently_report

    def picky(ref, cur, columns, method, html_path, thresholds=None):  # type: ignore[no-untyped-def]
        if "rsi" in columns:
            raise ZeroDivisionError("degenerate bins")
        return real(ref, cur, columns, method, html_path, thresholds)

    monkeypatch.setattr(drift, "_evidently_report", picky)
    summary = check_drift(reference, frame(60, seed=9, shift=1.5), COLUMNS)
    assert [f.column for f in summary.features] == ["ret"] and summary.verdict is DriftVerdict.DRIFTED
    assert [(u.column, u.reason) for u in summary.untestable] == [
        ("rsi", "evidently failed: ZeroDivisionError: degenerate bins")
    ]


def test_k_s_stays_the_test_on_a_long_reference_unless_evidently_may_choose() -> None:
    long_reference, current = frame(1500, seed=10), frame(60, seed=11, start="2020-01-01")
    assert {f.stattest for f in check_drift(long_reference, current, COLUMNS).features} == {"K-S p_value"}
    chosen = check_drift(long_reference, current, COLUMNS, method=None)
    assert {f.stattest for f in chosen.features} == {"Wasserstein distance (normed)"}


def test_per_column_thresholds_reach_evidently_and_decide(reference: pd.DataFrame) -> None:
    shifted = frame(60, seed=9, shift=0.6)  # a moderate shift: p well below 0.05, far above 1e-40
    nominal = check_drift(reference, shifted, COLUMNS)
    assert nominal.verdict is DriftVerdict.DRIFTED and all(f.threshold == 0.05 for f in nominal.features)
    strict = check_drift(
        reference, shifted, COLUMNS, thresholds={"ret": 1e-40, "rsi": 1e-40}, calibration_windows=19
    )
    assert [f.threshold for f in strict.features] == [1e-40, 1e-40]
    assert strict.verdict is DriftVerdict.NO_DRIFT and not strict.drifted_features
    assert "thresholds calibrated on 19 reference windows" in strict.message
