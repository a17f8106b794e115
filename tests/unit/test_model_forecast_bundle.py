"""The torch-free forecast bundle: the same forecasts as the full bundle, saved and loaded without torch."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import torch

from stockops.model import lstm_numpy
from stockops.model.bundle import BundleError, FeatureSpec, ModelBundle
from stockops.model.config import ModelConfig
from stockops.model.forecast_bundle import FORECAST_FILE, WEIGHTS_NPZ, ForecastBundle
from stockops.model.forecasting import forecast_prices
from stockops.model.network import LSTMForecaster
from stockops.model.scaling import StandardScaler
from stockops.model.training import seed_everything


def _bundle(
    hidden: int = 8,
    layers: int = 1,
    shrinkage: tuple[float, ...] | None = None,
    offsets: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
    seed: int = 0,
) -> ModelBundle:
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    cfg = ModelConfig(hidden_size=hidden, num_layers=layers, context_days=12, horizon_days=4, dropout=0.3)
    network = LSTMForecaster(3, cfg)
    with torch.no_grad():  # non-trivial LayerNorm parameters, so the head is really exercised
        network.head[0].weight.normal_(1.0, 0.3)
        network.head[0].bias.normal_(0.0, 0.3)
    return ModelBundle(
        ticker="MSFT",
        model_config=cfg,
        feature_spec=FeatureSpec(columns=("a", "b", "c"), version="v1", context_days=12, horizon_days=4),
        feature_scaler=StandardScaler.fit(rng.normal(size=(40, 3))),
        target_scaler=StandardScaler.fit(rng.normal(scale=0.02, size=(40, 4)), center=False),
        state_dict=network.state_dict(),
        synthetic=False,
        shrinkage=shrinkage,
        interval_offsets=offsets,
    )


@pytest.mark.parametrize(("hidden", "layers"), [(8, 1), (16, 2), (5, 3)])
def test_numpy_forward_matches_torch(hidden: int, layers: int) -> None:
    bundle = _bundle(hidden, layers, seed=hidden)
    windows = np.random.default_rng(1).normal(scale=3.0, size=(7, 12, 3))  # large inputs saturate gates

    light = ForecastBundle.from_model_bundle(bundle)

    expected = bundle.predict_raw_log_returns(windows)
    np.testing.assert_allclose(light.predict_raw_log_returns(windows), expected, rtol=1e-4, atol=1e-7)
    assert np.abs(expected).max() > 1e-4  # not a vacuous comparison of zeros


def test_saved_and_loaded_it_forecasts_what_the_full_bundle_does(tmp_path: Path) -> None:
    offsets = ((-0.02, -0.03, -0.04, -0.05), (0.02, 0.03, 0.04, 0.05))
    bundle = _bundle(shrinkage=(1.0, 0.5, 0.0, 0.25), offsets=offsets)
    window = np.random.default_rng(2).normal(size=(12, 3))

    loaded = ForecastBundle.load(ForecastBundle.from_model_bundle(bundle).save(tmp_path / "fb"))

    full = forecast_prices(bundle, window, 100.0, date(2024, 3, 8), 4)
    light = forecast_prices(loaded, window, 100.0, date(2024, 3, 8), 4)
    np.testing.assert_allclose([p.close for p in light.points], [p.close for p in full.points], rtol=1e-6)
    np.testing.assert_allclose([p.low for p in light.points], [p.low for p in full.points], rtol=1e-6)
    assert light.points[2].close == 100.0  # lambda 0 on step 3: exactly the last close
    assert loaded.feature_spec == bundle.feature_spec and loaded.no_edge is False


def test_a_lambda_zero_bundle_is_no_edge_and_forecasts_the_last_close(tmp_path: Path) -> None:
    loaded = ForecastBundle.load(
        ForecastBundle.from_model_bundle(_bundle(shrinkage=(0.0,) * 4)).save(tmp_path / "fb")
    )
    forecast = forecast_prices(loaded, np.ones((12, 3)), 50.0, date(2024, 3, 8), 4)
    assert loaded.no_edge and [p.close for p in forecast.points] == [50.0] * 4


def test_loading_never_imports_torch(tmp_path: Path) -> None:
    ForecastBundle.from_model_bundle(_bundle()).save(tmp_path / "fb")
    code = (
        "import sys; from stockops.model.forecast_bundle import ForecastBundle; import numpy as np; "
        f"b = ForecastBundle.load({str(tmp_path / 'fb')!r}); b.predict_log_returns(np.zeros((1, 12, 3))); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_damaged_directory_is_a_bundle_error_naming_the_file(tmp_path: Path) -> None:
    directory = ForecastBundle.from_model_bundle(_bundle()).save(tmp_path / "fb")
    (directory / WEIGHTS_NPZ).write_bytes(b"not a zip")
    with pytest.raises(BundleError, match=WEIGHTS_NPZ):
        ForecastBundle.load(directory)
    (directory / FORECAST_FILE).unlink()
    with pytest.raises(BundleError, match=FORECAST_FILE):
        ForecastBundle.load(directory)


def test_weights_missing_a_tensor_are_rejected() -> None:
    weights = {k: v.numpy() for k, v in _bundle().state_dict.items() if k != "head.2.bias"}
    with pytest.raises(lstm_numpy.WeightsError, match=r"head\.2\.bias"):
        lstm_numpy.forward(weights, np.zeros((1, 12, 3)))
