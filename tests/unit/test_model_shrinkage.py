"""Shrinkage toward the random walk: lambdas fitted on the later validation windows (never used for early
stopping) at the lower end of their interval, 0 without evidence, 0 = naive exactly."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from stockops.model.bundle import FeatureSpec, ModelBundle
from stockops.model.config import ModelConfig, TrainingConfig
from stockops.model.experiment import run_experiment
from stockops.model.forecasting import forecast_prices
from stockops.model.network import LSTMForecaster
from stockops.model.scaling import StandardScaler
from stockops.model.shrinkage import fit_shrinkage
from stockops.model.training import seed_everything


def test_target_scaler_scales_without_centring_so_zero_stays_zero() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(loc=0.004, scale=0.01, size=(500, 3))
    scaler = StandardScaler.fit(y, center=False)

    np.testing.assert_array_equal(scaler.mean, 0.0)
    np.testing.assert_allclose(scaler.scale, np.sqrt(np.mean(y**2, axis=0)))
    np.testing.assert_array_equal(scaler.inverse_transform(np.zeros((2, 3))), 0.0)


def test_lambda_recovers_a_real_slope_and_clips_to_one() -> None:
    rng = np.random.default_rng(1)
    signal = rng.normal(scale=0.01, size=(2000, 2))
    noise = rng.normal(scale=0.005, size=(2000, 2))
    actual = np.column_stack([0.4 * signal[:, 0], 3.0 * signal[:, 1]]) + noise

    fit = fit_shrinkage(signal, actual)

    assert fit.slope[0] == pytest.approx(0.4, abs=0.03)
    # applied at the lower end of the one-sided interval: slope - 1.96 se
    assert fit.lambdas[0] == pytest.approx(fit.slope[0] * (1 - 1.96 / fit.t_stat[0]))
    assert 0.3 < fit.lambdas[0] < fit.slope[0]
    assert fit.lambdas[1] == 1.0 and fit.slope[1] == pytest.approx(3.0, abs=0.1)
    assert all(t > 10 for t in fit.t_stat) and not fit.no_edge


def test_lambda_is_zero_for_noise_and_for_a_negative_slope() -> None:
    rng = np.random.default_rng(3)
    pred = rng.normal(scale=0.01, size=(300, 2))
    actual = np.column_stack([rng.normal(scale=0.01, size=300), -2.0 * pred[:, 1]])

    fit = fit_shrinkage(pred, actual)

    assert fit.lambdas == (0.0, 0.0) and fit.no_edge
    assert abs(fit.t_stat[0]) < 1.96 and fit.slope[1] < 0 and fit.t_stat[1] < 0


def test_overlapping_windows_need_hac_evidence() -> None:
    """5-day cumulative targets overlap, so their errors are autocorrelated: a plain t-test keeps a slope
    for pure noise far more often than its nominal 2.5 % (one-sided), the HAC test (lag 2 x 5) barely."""
    rng = np.random.default_rng(3)
    plain = hac = 0
    for _ in range(200):
        actual = np.convolve(rng.normal(size=305), np.ones(5), "valid")[1:301, None]
        pred = np.convolve(rng.normal(size=305), np.ones(5), "valid")[:300, None]
        plain += fit_shrinkage(pred, actual, lag=0).lambdas[0] > 0
        hac += fit_shrinkage(pred, actual, lag=10).lambdas[0] > 0
    assert plain >= 24 and hac <= 14


def _bundle(shrinkage: tuple[float, ...] | None) -> ModelBundle:
    seed_everything(0)
    rng = np.random.default_rng(0)
    cfg = ModelConfig(hidden_size=8, num_layers=1, context_days=6, horizon_days=3)
    return ModelBundle(
        ticker="MSFT",
        model_config=cfg,
        feature_spec=FeatureSpec(columns=("a", "b"), version="v1", context_days=6, horizon_days=3),
        feature_scaler=StandardScaler.fit(rng.normal(size=(30, 2))),
        target_scaler=StandardScaler.fit(rng.normal(scale=0.02, size=(30, 3)), center=False),
        state_dict=LSTMForecaster(2, cfg).state_dict(),
        synthetic=False,
        shrinkage=shrinkage,
    )


def test_lambda_zero_reproduces_the_naive_forecast_exactly(tmp_path) -> None:
    window = np.random.default_rng(5).normal(size=(6, 2))
    raw = _bundle(None)
    zero = ModelBundle.load(_bundle((0.0, 0.0, 0.0)).save(tmp_path / "b"))

    assert np.any(raw.predict_log_returns(window[None]) != 0.0)
    forecast = forecast_prices(zero, window, 123.45, date(2024, 3, 8), 3)

    assert zero.no_edge and zero.shrinkage == (0.0, 0.0, 0.0)
    assert [p.close for p in forecast.points] == [p.close for p in forecast.naive] == [123.45] * 3


def test_lambda_scales_each_step_and_survives_a_round_trip(tmp_path) -> None:
    window = np.random.default_rng(6).normal(size=(1, 6, 2))
    half = ModelBundle.load(_bundle((0.5, 1.0, 0.0)).save(tmp_path / "b"))

    raw = half.predict_raw_log_returns(window)
    np.testing.assert_allclose(half.predict_log_returns(window), raw * [0.5, 1.0, 0.0])
    assert not half.no_edge


def test_lambdas_outside_zero_one_are_refused() -> None:
    with pytest.raises(Exception, match=r"lie in \[0, 1\]"):
        _bundle((0.5, 1.5, 0.0))


# -- leakage guards: on data with no information the shrunk model is the random walk -----------------

MODEL = ModelConfig(hidden_size=8, num_layers=1, dropout=0.0, context_days=10, horizon_days=2)
TRAIN = TrainingConfig(epochs=8, batch_size=64, num_threads=1, patience=8, refit=False)


def _frame(returns: np.ndarray, feature: np.ndarray) -> pd.DataFrame:
    index = pd.bdate_range("2010-01-01", periods=len(returns), name="date")
    return pd.DataFrame({"close": 100.0 * np.exp(np.cumsum(returns)), "signal": feature}, index=index)


def _test_skill(frame: pd.DataFrame) -> float:
    result = run_experiment(
        frame,
        ticker="SYN",
        feature_columns=("signal",),
        model_cfg=MODEL,
        train_cfg=TRAIN,
        synthetic=True,
        feature_version="t",
    )
    assert result.report.skill is not None
    return result.report.skill


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_a_learnable_signal_is_kept_but_shuffled_targets_and_a_pure_random_walk_give_zero_skill(
    seed: int,
) -> None:
    # Seed 7 kept a noise lambda (t = 3.0, skill -0.016) while early stopping and the lambdas shared the
    # validation part; with the lambdas fitted on the later, unseen part it shrinks to 0 like the others.
    rng = np.random.default_rng(seed)
    days = 1500
    returns = rng.normal(scale=0.01, size=days)
    leak = np.roll(returns, -1)  # today's feature is tomorrow's return: the model can learn it
    leak[-1] = 0.0

    assert _test_skill(_frame(returns, leak)) > 0.05  # the machinery can find real signal ...
    shuffled = rng.permutation(returns)  # ... but the same feature against shuffled targets is noise
    assert abs(_test_skill(_frame(shuffled, leak))) <= 0.01
    walk_feature = np.concatenate([[0.0], returns[:-1]])  # past returns of a pure random walk
    assert abs(_test_skill(_frame(returns, walk_feature))) <= 0.01
