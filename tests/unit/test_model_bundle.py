"""Model bundle: save/load round trip predicts identically; damaged bundles name the bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stockops.model.bundle import BundleError, FeatureSpec, ModelBundle
from stockops.model.config import ModelConfig, TrainingConfig
from stockops.model.network import LSTMForecaster
from stockops.model.scaling import StandardScaler
from stockops.model.training import seed_everything

CFG = ModelConfig(hidden_size=12, num_layers=2, dropout=0.1, context_days=7, horizon_days=4)
SPEC = FeatureSpec(columns=("a", "b"), version="v1", context_days=7, horizon_days=4)


def _bundle() -> ModelBundle:
    seed_everything(3)
    rng = np.random.default_rng(3)
    return ModelBundle(
        ticker="AAPL",
        model_config=CFG,
        feature_spec=SPEC,
        feature_scaler=StandardScaler.fit(rng.normal(loc=5.0, size=(40, 2))),
        target_scaler=StandardScaler.fit(rng.normal(scale=0.01, size=(40, 4))),
        state_dict=LSTMForecaster(2, CFG).state_dict(),
        synthetic=False,
        parent_ticker="^GSPC",
        parent_version="3",
        transfer_strategy="freeze",
        training_config=TrainingConfig(epochs=2),
    )


def test_round_trip_gives_identical_predictions_and_metadata(tmp_path: Path) -> None:
    bundle = _bundle()
    windows = np.random.default_rng(4).normal(loc=5.0, size=(9, 7, 2))

    bundle.save(tmp_path / "bundle")
    loaded = ModelBundle.load(tmp_path / "bundle")

    assert sorted(p.name for p in (tmp_path / "bundle").iterdir()) == [
        "bundle.json",
        "feature_spec.json",
        "scaler.json",
        "weights.pt",
    ]
    np.testing.assert_array_equal(loaded.predict_log_returns(windows), bundle.predict_log_returns(windows))
    assert loaded.metadata() == bundle.metadata()
    assert loaded.feature_spec == SPEC and loaded.feature_scaler == bundle.feature_scaler
    assert loaded.predict_log_returns(windows).shape == (9, 4)


def test_predictions_are_unscaled_log_returns() -> None:
    bundle = _bundle()
    out = bundle.predict_log_returns(np.zeros((2, 7, 2)))
    # the target scaler's scale is ~0.01: outputs live on the log-return scale, not the unit scale
    assert np.all(np.abs(out) < 0.2)


@pytest.mark.parametrize("missing", ["weights.pt", "scaler.json", "feature_spec.json", "bundle.json"])
def test_missing_file_is_named(tmp_path: Path, missing: str) -> None:
    _bundle().save(tmp_path)
    (tmp_path / missing).unlink()
    with pytest.raises(BundleError, match=f"missing {missing}"):
        ModelBundle.load(tmp_path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("weights.pt", b"not a torch file", "weights.pt is not a readable torch state_dict"),
        ("scaler.json", b"{", "scaler.json is not valid JSON"),
        ("scaler.json", b'{"feature": {"mean": [0], "scale": [1]}}', "scaler.json is invalid"),
        ("feature_spec.json", b'{"columns": ["a"]}', "feature_spec.json is invalid"),
    ],
)
def test_corrupt_file_is_named(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    _bundle().save(tmp_path)
    (tmp_path / name).write_bytes(content)
    with pytest.raises(BundleError, match=message):
        ModelBundle.load(tmp_path)


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path: Path) -> None:
    bundle = _bundle()
    other = ModelBundle(
        **{
            **_fields(bundle),
            "state_dict": LSTMForecaster(2, CFG.model_copy(update={"hidden_size": 8})).state_dict(),
        }
    )
    other.save(tmp_path)
    with pytest.raises(BundleError, match="do not fit its model config"):
        ModelBundle.load(tmp_path)


def test_inconsistent_parts_are_refused() -> None:
    with pytest.raises(BundleError, match="feature scaler has 3 features, spec has 2"):
        ModelBundle(**{**_fields(_bundle()), "feature_scaler": StandardScaler.fit(np.ones((3, 3)))})


def test_missing_directory_and_wrong_window_shape(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        ModelBundle.load(tmp_path / "nope")
    with pytest.raises(ValueError, match=r"windows must have shape \(n >= 1, 7, 2\)"):
        _bundle().predict_log_returns(np.zeros((1, 6, 2)))


def _fields(bundle: ModelBundle) -> dict:
    return {
        "ticker": bundle.ticker,
        "model_config": bundle.model_config,
        "feature_spec": bundle.feature_spec,
        "feature_scaler": bundle.feature_scaler,
        "target_scaler": bundle.target_scaler,
        "state_dict": bundle.state_dict,
        "synthetic": bundle.synthetic,
    }
