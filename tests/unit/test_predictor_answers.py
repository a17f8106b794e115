"""Pure parts of the predictor's answers: cache keys, risk labels, response encoding."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from stockops.predictor.cache import cache_key, window_digest
from stockops.predictor.responses import AnswerContext, build_answer, v1_response, v2_output_tensors
from stockops.predictor.risk import annualized_volatility, risk_label
from stockops.predictor.settings import PredictorSettings, redact_url
from stockops.predictor.windows import realized_volatility_of_window

# -- cache keys ----------------------------------------------------------------------------------


def key(**overrides: object) -> str:
    args: dict[str, object] = {
        "model_name": "stockops-aapl",
        "model_version": "3",
        "ticker": "AAPL",
        "as_of": date(2024, 5, 31),
        "days": 5,
    }
    args.update(overrides)
    return cache_key(**args)  # type: ignore[arg-type]


def test_cache_key_names_model_version_ticker_date_and_days() -> None:
    assert key() == "stockops:forecast:v1:stockops-aapl:3:AAPL:2024-05-31:5"


@pytest.mark.parametrize(
    "change",
    [{"model_version": "4"}, {"as_of": date(2024, 6, 3)}, {"days": 4}, {"ticker": "MSFT"}, {"digest": "ab"}],
)
def test_a_new_version_date_horizon_or_window_misses(change: dict[str, object]) -> None:
    assert key(**change) != key()


def test_window_digest_is_stable_and_sensitive_to_every_value() -> None:
    base = np.full((4, 3), 0.01)
    assert window_digest(base, 100.0) == window_digest(base.copy(), 100.0)
    nudged = base.copy()
    nudged[3, 2] += 1e-12
    assert window_digest(nudged, 100.0) != window_digest(base, 100.0)
    assert window_digest(base, 100.01) != window_digest(base, 100.0)


def test_window_digest_ignores_memory_layout_and_dtype_of_equal_values() -> None:
    base = np.arange(12, dtype=np.float64).reshape(4, 3)
    assert window_digest(np.asfortranarray(base), 1.0) == window_digest(base, 1.0)
    assert window_digest(base.astype(np.float32), 1.0) == window_digest(base, 1.0)


# -- risk ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vol", "label"),
    [(0.0, "low"), (0.1999, "low"), (0.20, "medium"), (0.3999, "medium"), (0.40, "high"), (1.5, "high")],
)
def test_risk_label_thresholds(vol: float, label: str) -> None:
    assert risk_label(vol) == label


@pytest.mark.parametrize("vol", [None, math.nan, math.inf])
def test_unknown_volatility_has_no_label(vol: float | None) -> None:
    assert risk_label(vol) is None


def test_annualized_volatility_of_alternating_returns() -> None:
    daily = 0.01
    returns = np.array([daily, -daily] * 10)  # sample std = daily * sqrt(20/19)
    expected = daily * math.sqrt(20 / 19) * math.sqrt(252)
    assert annualized_volatility(returns) == pytest.approx(expected)


def test_annualized_volatility_uses_only_the_last_20_finite_returns() -> None:
    calm = np.zeros(20)
    wild = np.array([0.5, -0.5] * 50)
    assert annualized_volatility(np.concatenate([wild, calm])) == 0.0
    assert annualized_volatility(np.array([math.nan, 0.01])) is None


def test_window_volatility_from_log_return_column_or_volatility_20() -> None:
    window = np.zeros((30, 2))
    window[-20:, 0] = [0.03, -0.03] * 10
    with_returns = realized_volatility_of_window(window, ("log_return", "other"))
    assert with_returns is not None and risk_label(with_returns) == "high"
    window_vol = np.full((30, 1), 0.005)
    only_vol = realized_volatility_of_window(window_vol, ("volatility_20",))
    assert only_vol == pytest.approx(0.005 * math.sqrt(252))
    assert realized_volatility_of_window(window_vol, ("rsi_norm",)) is None


# -- responses ----------------------------------------------------------------------------------

CONTEXT = AnswerContext("AAPL", "stockops-aapl", "3", synthetic=False, data_source="request")


def answer(days: int = 2) -> dict[str, object]:
    dates = [date(2024, 6, 3), date(2024, 6, 4), date(2024, 6, 5)][:days]
    return build_answer(
        CONTEXT,
        as_of=date(2024, 5, 31),
        last_close=100.0,
        dates=dates,
        closes=[101.0, 102.5, 99.0][:days],
        risk="medium",
        realized_volatility=0.25,
    )


def test_answer_carries_forecast_and_naive_side_by_side() -> None:
    a = answer()
    assert a["forecast"] == [
        {"date": "2024-06-03", "close": 101.0, "low": None, "high": None},
        {"date": "2024-06-04", "close": 102.5, "low": None, "high": None},
    ]
    assert a["naive"] == [{"date": "2024-06-03", "close": 100.0}, {"date": "2024-06-04", "close": 100.0}]
    assert (a["model_version"], a["as_of"], a["days"], a["risk"]) == ("3", "2024-05-31", 2, "medium")


def test_v1_response_adds_cached_flag_per_instance() -> None:
    body = v1_response([answer(), answer()], [False, True])
    assert [p["cached"] for p in body["predictions"]] == [False, True]


def test_v2_outputs_are_rectangular_tensors() -> None:
    tensors = {t.name: t for t in v2_output_tensors([answer(), answer()], [False, True])}
    assert tensors["forecast_close"].data.shape == (2, 2)
    assert tensors["forecast_date"].data[0].tolist() == ["2024-06-03", "2024-06-04"]
    assert tensors["naive_close"].data.tolist() == [[100.0, 100.0], [100.0, 100.0]]
    assert tensors["cached"].data.tolist() == [False, True]
    assert tensors["risk"].datatype == "BYTES"


def test_answers_carry_the_interval_per_step_in_v1_and_v2() -> None:
    a = build_answer(
        CONTEXT,
        as_of=date(2024, 5, 31),
        last_close=100.0,
        dates=[date(2024, 6, 3), date(2024, 6, 4)],
        closes=[101.0, 102.5],
        risk=None,
        realized_volatility=None,
        lows=[98.0, 97.5],
        highs=[104.0, 106.0],
    )
    assert [(p["low"], p["close"], p["high"]) for p in a["forecast"]] == [
        (98.0, 101.0, 104.0),
        (97.5, 102.5, 106.0),
    ]
    assert a["interval"] == {"low_quantile": 0.1, "high_quantile": 0.9}
    tensors = {t.name: t for t in v2_output_tensors([a, answer()], [False, False])}
    assert tensors["forecast_low"].data[0].tolist() == [98.0, 97.5]
    assert tensors["forecast_high"].data[0].tolist() == [104.0, 106.0]
    assert np.isnan(tensors["forecast_low"].data[1]).all()  # a model without an interval: NaN (null)


def test_v2_outputs_refuse_mixed_horizons() -> None:
    with pytest.raises(ValueError, match="one horizon"):
        v2_output_tensors([answer(2), answer(3)], [False, False])


# -- settings ------------------------------------------------------------------------------------


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKOPS_MODEL_NAME", "stockops-aapl")
    monkeypatch.setenv("STOCKOPS_MODEL_VERSION", "7")
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("STOCKOPS_CACHE_TTL_SECONDS", "60")
    settings = PredictorSettings()
    assert (settings.model_name, settings.model_version, settings.http_port) == ("stockops-aapl", "7", 9000)
    assert settings.cache_ttl_seconds == 60
    assert settings.target == "stockops-aapl version 7"


def test_settings_default_to_the_production_alias_and_30_minute_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STOCKOPS_MODEL_VERSION", "STOCKOPS_MODEL_ALIAS", "STOCKOPS_CACHE_TTL_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    settings = PredictorSettings(model_name="stockops-msft")
    assert settings.target == "stockops-msft@production"
    assert settings.cache_ttl_seconds == 1800


def test_settings_take_the_port_by_field_name_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9000")
    assert PredictorSettings(model_name="m", http_port=8123).http_port == 8123


def test_settings_refuse_version_and_alias_together() -> None:
    with pytest.raises(ValueError, match="not both"):
        PredictorSettings(model_name="m", model_version="1", model_alias="production")


def test_redact_url_hides_credentials() -> None:
    assert redact_url("redis://user:secret@cache:6379/0") == "redis://***@cache:6379/0"
    assert redact_url("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
