"""Forecasts: dated business days after as_of, naive beside, validation errors naming the field."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from stockops.model.bundle import FeatureSpec, ModelBundle
from stockops.model.config import ModelConfig
from stockops.model.forecasting import ForecastInputError, business_days_after, forecast_prices
from stockops.model.network import LSTMForecaster
from stockops.model.scaling import StandardScaler
from stockops.model.training import seed_everything

CFG = ModelConfig(hidden_size=8, num_layers=1, context_days=6, horizon_days=5)
WINDOW = np.random.default_rng(0).normal(size=(6, 3))


def _bundle() -> ModelBundle:
    seed_everything(0)
    rng = np.random.default_rng(0)
    return ModelBundle(
        ticker="MSFT",
        model_config=CFG,
        feature_spec=FeatureSpec(columns=("a", "b", "c"), version="v1", context_days=6, horizon_days=5),
        feature_scaler=StandardScaler.fit(rng.normal(size=(30, 3))),
        target_scaler=StandardScaler.fit(rng.normal(scale=0.02, size=(30, 5))),
        state_dict=LSTMForecaster(3, CFG).state_dict(),
        synthetic=True,
    )


def test_forecast_is_dated_on_business_days_after_as_of_with_naive_beside() -> None:
    bundle = _bundle()
    friday = date(2024, 3, 8)

    forecast = forecast_prices(bundle, WINDOW, 400.0, friday, 3)

    assert [p.date for p in forecast.points] == [date(2024, 3, 11), date(2024, 3, 12), date(2024, 3, 13)]
    assert [p.date for p in forecast.naive] == [p.date for p in forecast.points]
    assert all(p.close == 400.0 for p in forecast.naive)
    expected = 400.0 * np.exp(bundle.predict_log_returns(WINDOW[None])[0, :3])
    np.testing.assert_allclose([p.close for p in forecast.points], expected)
    assert forecast.ticker == "MSFT" and forecast.synthetic and forecast.as_of == friday
    assert forecast.model_dump(mode="json")["points"][0]["date"] == "2024-03-11"


def test_business_days_skip_weekends_from_a_saturday() -> None:
    assert business_days_after(date(2024, 3, 9), 2) == [date(2024, 3, 11), date(2024, 3, 12)]


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"days": 0}, "days", "between 1 and 5"),
        ({"days": 6}, "days", "between 1 and 5"),
        ({"days": 2.5}, "days", "integer"),
        ({"days": True}, "days", "integer"),
        ({"window": np.zeros((5, 3))}, "window", r"shape \(6, 3\)"),
        (
            {"window": np.where(np.eye(6, 3) == 1, np.inf, 0.0)},
            "window",
            "non-finite value at row 0, feature 'a'",
        ),
        ({"window": [["x"] * 3] * 6}, "window", "numeric"),
        ({"last_close": -1.0}, "last_close", "positive"),
        ({"last_close": float("nan")}, "last_close", "positive"),
        ({"last_close": "100"}, "last_close", "positive number"),
        ({"as_of": "next friday"}, "as_of", "YYYY-MM-DD"),
    ],
)
def test_bad_inputs_name_the_field(kwargs: dict, field: str, message: str) -> None:
    args = {"window": WINDOW, "last_close": 100.0, "as_of": date(2024, 3, 8), "days": 5, **kwargs}
    with pytest.raises(ForecastInputError, match=message) as info:
        forecast_prices(_bundle(), **args)
    assert info.value.field == field and str(info.value).startswith(f"{field}:")
    assert isinstance(info.value, ValueError)
