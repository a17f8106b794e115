"""run_experiment: windows -> split -> train-only scalers -> fit -> test metrics -> bundle (parent, child)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from stockops.model.config import ModelConfig, TrainingConfig, TransferConfig
from stockops.model.evaluation import evaluate
from stockops.model.experiment import ExperimentDataError, ExperimentResult, run_experiment
from stockops.model.plots_evaluation import plot_return_scatter, plot_rolling_skill
from stockops.model.scaling import StandardScaler
from stockops.model.transfer import TransferError

COLUMNS = ("ret", "ret5", "noise")
MODEL = ModelConfig(hidden_size=8, num_layers=1, dropout=0.0, context_days=15, horizon_days=3)
TRAIN = TrainingConfig(epochs=2, batch_size=64, num_threads=1, refit=False)


# Children start later than the parent (2018-01-01, 400 days): their test period must begin after the
# parent's evaluation weights' last day (the end of its early-stopping part, 2019-03), or the transfer is
# refused.
CHILD_START = "2018-07-02"


def _frame(seed: int, days: int = 400, start: float = 100.0, first_day: str = "2018-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ret = rng.normal(0.0003, 0.01, days)
    index = pd.bdate_range(first_day, periods=days, name="date")
    return pd.DataFrame(
        {
            "close": start * np.exp(np.cumsum(ret)),
            "ret": ret,
            "ret5": pd.Series(ret).rolling(5, min_periods=1).mean().to_numpy(),
            "noise": rng.normal(size=days),
        },
        index=index,
    )


def _run(frame: pd.DataFrame, **kwargs) -> ExperimentResult:
    args = {
        "ticker": "SYN",
        "feature_columns": COLUMNS,
        "model_cfg": MODEL,
        "train_cfg": TRAIN,
        "synthetic": True,
        "feature_version": "test-v1",
        **kwargs,
    }
    return run_experiment(frame, **args)


@pytest.fixture(scope="module")
def parent_result() -> ExperimentResult:
    return _run(_frame(0), ticker="^GSPC")


def test_parent_experiment_reports_the_test_split_through_the_bundle(parent_result: ExperimentResult) -> None:
    frame, result = _frame(0), parent_result
    split, pred = result.split, result.test_predictions

    n = 400 - 15 - 3 + 1
    assert split.total_windows == n
    assert split.train.size + split.val.size + split.test.size + 2 * 3 == n
    assert (
        split.train.last_target < split.val.first_anchor and split.val.last_target < split.test.first_anchor
    )
    assert result.report.n_windows == split.test.size == pred.predicted.shape[0]
    assert (
        result.report.test_start == split.test.first_anchor
        and result.report.test_end == split.test.last_anchor
    )
    assert split.test.last_target == frame.index[-1].date()

    # actual prices are the real future closes; predictions are exactly what the bundle serves
    target_rows = frame.index.get_indexer(pred.target_dates.reshape(-1))
    np.testing.assert_allclose(pred.actual.reshape(-1), frame["close"].to_numpy()[target_rows])
    first = frame.index.get_loc(pd.Timestamp(split.test.first_anchor))
    rows = np.arange(first, first + split.test.size)
    raw = np.stack([frame[list(COLUMNS)].to_numpy()[r - 14 : r + 1] for r in rows])
    served = pred.last_close[:, None] * np.exp(result.bundle.predict_log_returns(raw))
    np.testing.assert_allclose(pred.predicted, served, rtol=1e-6)
    again = evaluate(
        np.log(pred.predicted / pred.last_close[:, None]),
        np.log(pred.actual / pred.last_close[:, None]),
        pred.last_close,
        pred.anchor_dates,
    )
    assert again.rmse == pytest.approx(result.report.rmse)

    bundle = result.bundle
    assert bundle.ticker == "^GSPC" and bundle.synthetic and bundle.parent_ticker is None
    assert bundle.data_end == frame.index[-1].date() and bundle.feature_spec.version == "test-v1"
    assert result.fit.epochs_run == 2 and len(result.fit.history) == 2


def test_scalers_are_fitted_on_the_train_split_only(parent_result: ExperimentResult) -> None:
    frame = _frame(0)
    first_val_row = frame.index.get_loc(pd.Timestamp(parent_result.split.val.first_anchor))
    changed = frame.copy()
    tail = slice(first_val_row, None)
    changed.iloc[tail, changed.columns.get_loc("noise")] *= 50.0
    changed.iloc[tail, changed.columns.get_loc("close")] *= np.linspace(
        1.0, 3.0, len(changed) - first_val_row
    )

    other = _run(changed, ticker="^GSPC")

    assert other.bundle.feature_scaler == parent_result.bundle.feature_scaler
    assert other.bundle.target_scaler == parent_result.bundle.target_scaler
    last_train_row = frame.index.get_loc(pd.Timestamp(parent_result.split.train.last_anchor))
    expected = StandardScaler.fit(frame[list(COLUMNS)].to_numpy()[: last_train_row + 1])
    assert parent_result.bundle.feature_scaler == expected


def test_child_freeze_keeps_the_parents_lstm_and_fits_its_own_scalers(
    parent_result: ExperimentResult,
) -> None:
    parent = parent_result.bundle
    child = _run(
        _frame(1, days=300, start=20.0, first_day=CHILD_START),
        ticker="AAPL",
        parent=parent,
        parent_version="4",
        transfer=TransferConfig(strategy="freeze", epochs=1),
        synthetic=False,
    )

    weights = child.bundle.state_dict
    assert all(torch.equal(weights[k], parent.state_dict[k]) for k in weights if k.startswith("lstm."))
    assert not torch.equal(weights["head.2.weight"], parent.state_dict["head.2.weight"])
    assert child.bundle.feature_scaler != parent.feature_scaler
    assert (child.bundle.parent_ticker, child.bundle.parent_version, child.bundle.transfer_strategy) == (
        "^GSPC",
        "4",
        "freeze",
    )
    assert child.fit.epochs_run == 1 and child.bundle.training_config.learning_rate == TRAIN.learning_rate


def test_child_fine_tune_uses_the_lower_learning_rate(parent_result: ExperimentResult) -> None:
    child = _run(
        _frame(2, days=300, first_day=CHILD_START),
        ticker="MSFT",
        parent=parent_result.bundle,
        transfer=TransferConfig(epochs=1),
    )
    assert child.bundle.training_config.learning_rate == pytest.approx(TRAIN.learning_rate * 0.1)
    assert child.bundle.transfer_strategy == "fine-tune"


def test_child_with_other_features_is_refused(parent_result: ExperimentResult) -> None:
    with pytest.raises(TransferError, match="columns differ"):
        _run(_frame(3), feature_columns=("ret", "noise"), parent=parent_result.bundle)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["ret5"]), r"lacks columns \['ret5'\]"),
        (lambda f: f.assign(noise=f["noise"].where(f.index != "2018-03-01")), r"'noise' has 1 .*2018-03-01"),
        (lambda f: f.iloc[:100], r"too few windows to split: 83 windows"),
        (lambda f: f.iloc[::-1], "ascending"),
    ],
)
def test_bad_frames_are_refused_clearly(mutate, message: str) -> None:
    with pytest.raises(ExperimentDataError, match=message):
        _run(mutate(_frame(0)))


def test_real_gspc_since_2015_trains_and_plots(ohlcv_dir: Path, tmp_path: Path) -> None:
    from stockops.data.features import FEATURE_SET_VERSION, MODEL_FEATURES, compute_features
    from stockops.data.sources import source_from_string

    history = source_from_string(f"csv:{ohlcv_dir}").fetch("^GSPC", start=date(2015, 1, 1))
    features = compute_features(history.frame)

    result = run_experiment(
        features,
        ticker="^GSPC",
        feature_columns=MODEL_FEATURES,
        model_cfg=ModelConfig(hidden_size=32),
        train_cfg=TrainingConfig(epochs=2, num_threads=1, refit=False),
        synthetic=history.synthetic,
    )

    report = result.report
    assert result.bundle.feature_spec.version == FEATURE_SET_VERSION
    assert report.n_windows > 200 and report.test_end.year >= 2023
    assert report.naive_rmse > 0 and np.isfinite(report.rmse)
    # a scale-free target keeps an untuned model near the random walk, nowhere near skill -1.7 .. -17
    assert report.skill is not None and report.skill > -0.5
    for png in (
        plot_return_scatter(result.test_predictions, tmp_path / "plots" / "returns.png", title="^GSPC"),
        plot_rolling_skill(
            result.test_predictions,
            tmp_path / "plots" / "skill.png",
            title="^GSPC",
            train_drift=result.train_drift,
        ),
    ):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_interval_comes_from_calibration_residuals_and_is_scored_on_test(
    parent_result: ExperimentResult, tmp_path: Path
) -> None:
    from stockops.model.bundle import ModelBundle

    bundle, report = parent_result.bundle, parent_result.report
    low, high = bundle.interval_offsets
    assert all(lo < 0 < hi for lo, hi in zip(low, high, strict=True))
    assert report.interval_coverage is not None and 0.0 < report.interval_coverage <= 1.0
    assert report.pinball is not None and report.ewma_pinball is not None and report.ewma_coverage is not None
    pred = parent_result.test_predictions
    inside = (pred.actual >= pred.low) & (pred.actual <= pred.high)
    assert report.interval_coverage == pytest.approx(inside.mean())
    assert ModelBundle.load(bundle.save(tmp_path / "b")).interval_offsets == bundle.interval_offsets


def test_refit_serves_weights_fitted_on_all_data_but_reports_the_held_out_metrics(
    parent_result: ExperimentResult, tmp_path: Path
) -> None:
    from stockops.model.bundle import ModelBundle

    refitted = _run(_frame(0), ticker="^GSPC", train_cfg=TRAIN.model_copy(update={"refit": True}))
    bundle = refitted.bundle

    assert bundle.refit_end == _frame(0).index[-1].date() and parent_result.bundle.refit_end is None
    assert (bundle.train_end, bundle.val_end, bundle.test_end) == (
        parent_result.bundle.train_end,
        parent_result.bundle.val_end,
        parent_result.bundle.test_end,
    )
    # the evaluation weights are the non-refit run's, and the served ones differ from them
    assert all(torch.equal(bundle.eval_state_dict[k], v) for k, v in parent_result.bundle.state_dict.items())
    assert not torch.equal(bundle.state_dict["head.2.weight"], bundle.eval_state_dict["head.2.weight"])
    # metrics users see are held-out ones, the same as without the refit
    assert refitted.report == parent_result.report
    np.testing.assert_array_equal(refitted.test_set.predicted, parent_result.test_set.predicted)
    assert bundle.shrinkage == parent_result.bundle.shrinkage
    loaded = ModelBundle.load(bundle.save(tmp_path / "b"))
    assert (tmp_path / "b" / "eval_weights.pt").is_file() and loaded.refit_end == bundle.refit_end
    assert torch.equal(loaded.eval_state_dict["head.2.weight"], bundle.eval_state_dict["head.2.weight"])


def test_a_child_is_evaluated_from_the_parents_evaluation_weights_and_served_from_its_refit(
    parent_result: ExperimentResult,
) -> None:
    refitted = _run(_frame(0), ticker="^GSPC", train_cfg=TRAIN.model_copy(update={"refit": True})).bundle
    freeze = TransferConfig(strategy="freeze", epochs=1)
    child = _run(
        _frame(1, days=300, first_day=CHILD_START),
        ticker="AAPL",
        parent=refitted,
        transfer=freeze,
        train_cfg=TRAIN.model_copy(update={"refit": True}),
    )
    served, evaluated = child.bundle.state_dict, child.bundle.eval_state_dict
    lstm = [k for k in served if k.startswith("lstm.")]
    assert all(torch.equal(evaluated[k], refitted.eval_state_dict[k]) for k in lstm)
    assert all(torch.equal(served[k], refitted.state_dict[k]) for k in lstm)
    assert child.parent_cutoff == refitted.eval_weights_end < child.split.test.first_target
    assert refitted.eval_weights_end == _run(_frame(0), ticker="^GSPC").split.early_stopping.last_target


def test_a_parent_that_has_seen_the_childs_test_days_is_refused_naming_both_dates(
    parent_result: ExperimentResult,
) -> None:
    from stockops.model.transfer import ParentOverlapError

    parent = parent_result.bundle
    with pytest.raises(ParentOverlapError) as caught:
        _run(_frame(1, days=300), ticker="AAPL", parent=parent, transfer=TransferConfig(epochs=1))
    message = str(caught.value)
    assert str(parent.eval_weights_end) in message and "test period starts 2018-1" in message
