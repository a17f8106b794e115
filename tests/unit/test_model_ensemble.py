"""Seed ensembles: members with their own seeds, a mean forecast, saved, loaded, refitted and transferred."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from stockops.model.bundle import ModelBundle
from stockops.model.config import ModelConfig, TrainingConfig, TransferConfig
from stockops.model.experiment import ExperimentResult, run_experiment
from stockops.model.forecast_bundle import ForecastBundle
from stockops.model.training import predict

COLUMNS = ("ret", "noise")
MODEL = ModelConfig(hidden_size=6, num_layers=1, dropout=0.0, context_days=10, horizon_days=2)


def _frame(seed: int, days: int = 360, first_day: str = "2018-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ret = rng.normal(0.0003, 0.01, days)
    index = pd.bdate_range(first_day, periods=days, name="date")
    return pd.DataFrame(
        {"close": 100 * np.exp(np.cumsum(ret)), "ret": ret, "noise": rng.normal(size=days)}, index=index
    )


def _run(frame: pd.DataFrame, members: int, *, refit: bool = False, **kwargs: object) -> ExperimentResult:
    train = TrainingConfig(epochs=2, batch_size=64, num_threads=1, refit=refit, ensemble_members=members)
    return run_experiment(
        frame,
        ticker=str(kwargs.pop("ticker", "SYN")),
        feature_columns=COLUMNS,
        model_cfg=MODEL,
        train_cfg=train,
        synthetic=True,
        feature_version="test-v1",
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def pair() -> ExperimentResult:
    return _run(_frame(0), 2, refit=True, ticker="^GSPC")


def test_members_train_with_their_own_seeds_and_the_forecast_is_their_mean(pair: ExperimentResult) -> None:
    bundle = pair.bundle
    assert len(bundle.members) == 2 and len(pair.member_fits) == 2
    first, second = bundle.eval_members
    assert not all(torch.equal(first[k], second[k]) for k in first)  # seeds 42 and 43 differ

    x = pair.test_set.x if pair.test_set else None
    assert x is not None
    scaled = bundle.feature_scaler.transform(x)
    per_member = [predict(bundle.build_network(w), scaled) for w in bundle.members]
    expected = bundle.target_scaler.inverse_transform(np.mean(per_member, axis=0))
    np.testing.assert_allclose(bundle.predict_raw_log_returns(x), expected, rtol=1e-6)


def test_the_first_member_is_exactly_the_single_model() -> None:
    single, pair = _run(_frame(1), 1), _run(_frame(1), 2)
    assert all(
        torch.equal(single.bundle.state_dict[k], pair.bundle.state_dict[k]) for k in single.bundle.state_dict
    )
    assert [s.val_loss for s in single.fit.history] == [s.val_loss for s in pair.fit.history]


def test_the_refit_serves_every_member_and_keeps_their_evaluation_weights(pair: ExperimentResult) -> None:
    bundle = pair.bundle
    assert bundle.refit_end is not None and len(bundle.eval_members) == 2 and len(bundle.members) == 2
    for served, evaluated in zip(bundle.members, bundle.eval_members, strict=True):
        assert not all(torch.equal(served[k], evaluated[k]) for k in served)


def test_an_ensemble_round_trips_through_both_bundle_formats(pair: ExperimentResult, tmp_path: Path) -> None:
    loaded = ModelBundle.load(pair.bundle.save(tmp_path / "full"))
    assert len(loaded.members) == 2 and len(loaded.eval_members) == 2
    assert loaded.metadata()["ensemble_members"] == 2
    x = pair.test_set.x if pair.test_set else np.zeros(0)
    np.testing.assert_allclose(loaded.predict_log_returns(x), pair.bundle.predict_log_returns(x), rtol=1e-6)

    light = ForecastBundle.load(ForecastBundle.from_model_bundle(loaded).save(tmp_path / "light"))
    assert len(light.members) == 2
    np.testing.assert_allclose(
        light.predict_log_returns(x), loaded.predict_log_returns(x), rtol=1e-4, atol=1e-7
    )


def test_child_members_transfer_from_the_matching_parent_members(pair: ExperimentResult) -> None:
    child = _run(
        _frame(5, days=300, first_day="2018-07-02"),
        3,
        parent=pair.bundle,
        transfer=TransferConfig(strategy="freeze"),
    )
    lstm = [name for name in child.bundle.state_dict if name.startswith("lstm.")]
    parents = pair.bundle.eval_members
    for k, member in enumerate(child.bundle.members):
        source = parents[k % len(parents)]  # three children from two parents: the third reuses the first
        assert all(torch.equal(member[name], source[name]) for name in lstm)
