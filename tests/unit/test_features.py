"""Features against hand-computed values, plus causality and scale-freeness on real prices."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockops.data import (
    EMA_SETTLE_ROWS,
    FEATURE_COLUMNS,
    FEATURE_DESCRIPTIONS,
    MODEL_FEATURES,
    CsvSource,
    compute_features,
)
from stockops.data.indicators import log_returns, macd, rolling_volatility, rolling_zscore, wilder_rsi


def series(values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.bdate_range("2024-01-01", periods=len(values)), dtype="float64")


def ohlcv_from_close(close: list[float], volume: list[float] | None = None) -> pd.DataFrame:
    """Open 1 % below close, high 2 % above, low 3 % below: known ratios for the range features."""
    c = np.asarray(close, dtype="float64")
    frame = pd.DataFrame(
        {
            "open": c * 0.99,
            "high": c * 1.02,
            "low": c * 0.97,
            "close": c,
            "volume": volume if volume is not None else [1000.0] * len(c),
        },
        index=pd.bdate_range("2024-01-01", periods=len(c), name="date"),
    )
    return frame


def test_log_return_is_log_of_close_ratio() -> None:
    result = log_returns(series([100.0, 110.0, 99.0]))

    assert math.isnan(result.iloc[0])
    assert result.iloc[1] == pytest.approx(math.log(110 / 100))
    assert result.iloc[2] == pytest.approx(math.log(99 / 110))


def test_rsi_uses_wilder_smoothing_seeded_by_a_simple_mean() -> None:
    # Changes: +2, -1 seven times (14 changes), then -3, then +4.
    changes = [2.0, -1.0] * 7 + [-3.0, 4.0]
    close = series(list(np.cumsum([100.0, *changes])))

    rsi = wilder_rsi(close, 14)

    assert rsi.iloc[:14].isna().all()
    # Row 14: average gain = 7*2/14 = 1.0, average loss = 7*1/14 = 0.5, RS = 2.
    assert rsi.iloc[14] == pytest.approx(100 - 100 / (1 + 2))
    # Row 15 (change -3): gain = (1.0*13 + 0)/14 = 13/14, loss = (0.5*13 + 3)/14 = 9.5/14.
    gain, loss = 13 / 14, 9.5 / 14
    assert rsi.iloc[15] == pytest.approx(100 - 100 / (1 + gain / loss))  # 57.777...
    # Row 16 (change +4): gain = (13/14*13 + 4)/14 = 225/196, loss = (9.5/14*13)/14 = 123.5/196.
    gain, loss = 225 / 196, 123.5 / 196
    assert rsi.iloc[16] == pytest.approx(100 - 100 / (1 + gain / loss))  # 64.562...
    assert rsi.iloc[16] == pytest.approx(64.5624103)


def test_rsi_is_100_without_losses_and_50_when_flat() -> None:
    assert wilder_rsi(series([float(v) for v in range(1, 20)])).iloc[-1] == 100.0
    assert wilder_rsi(series([5.0] * 20)).iloc[-1] == 50.0


def test_macd_line_signal_and_histogram_after_a_step() -> None:
    # Flat at 100 for 40 days (every EMA is exactly 100, MACD exactly 0), then 110 twice.
    close = series([100.0] * 40 + [110.0, 110.0])

    line, signal, hist = macd(close)

    assert line.iloc[:25].isna().all() and not math.isnan(line.iloc[25])  # needs 26 closes (EMA26)
    assert signal.iloc[:33].isna().all() and not math.isnan(signal.iloc[33])  # + 9 MACD values
    assert line.iloc[39] == 0.0 and signal.iloc[39] == 0.0
    # Day 40: EMA12 = 100 + (2/13)*10, EMA26 = 100 + (2/27)*10.
    ema12, ema26 = 100 + 2 / 13 * 10, 100 + 2 / 27 * 10
    macd_40 = ema12 - ema26  # = 280/351
    signal_40 = 0.0 + 0.2 * (macd_40 - 0.0)  # alpha = 2/(9+1)
    assert line.iloc[40] == pytest.approx(280 / 351)
    assert signal.iloc[40] == pytest.approx(signal_40)
    assert hist.iloc[40] == pytest.approx(macd_40 - signal_40)  # = 224/351
    # Day 41: each EMA moves the same fraction of the remaining gap to 110 again.
    ema12 = ema12 + 2 / 13 * (110 - ema12)
    ema26 = ema26 + 2 / 27 * (110 - ema26)
    macd_41 = ema12 - ema26
    signal_41 = signal_40 + 0.2 * (macd_41 - signal_40)
    assert line.iloc[41] == pytest.approx(macd_41)
    assert line.iloc[41] == pytest.approx(6250 / 729 - 1210 / 169)
    assert signal.iloc[41] == pytest.approx(signal_41)
    assert hist.iloc[41] == pytest.approx(macd_41 - signal_41)


def test_volatility_is_the_sample_std_of_20_log_returns() -> None:
    # Log returns alternate +0.01 / -0.01: mean 0, sum of squares 20 * 0.0001, ddof = 1.
    close = series(list(100 * np.exp(np.cumsum([0.0] + [0.01, -0.01] * 12))))

    volatility = rolling_volatility(log_returns(close), 20)

    assert volatility.iloc[:20].isna().all()
    assert volatility.iloc[20] == pytest.approx(math.sqrt(20 * 0.0001 / 19))


def test_volume_z_hand_values_and_degenerate_windows() -> None:
    # 19 equal log-volumes a and one b = a + d: mean = a + d/20, std (ddof=1) = d/sqrt(20),
    # so z = (19d/20) / (d/sqrt(20)) = 19/sqrt(20) whatever a and d are.
    log_volume = pd.Series(np.log1p([1000.0] * 19 + [5000.0, 5000.0]))

    z = rolling_zscore(log_volume, 20)

    assert z.iloc[:19].isna().all()
    assert z.iloc[19] == pytest.approx(19 / math.sqrt(20))
    # Next window: 18 a and 2 b; b - mean = 18d/20, var = (18*(2d/20)^2 + 2*(18d/20)^2)/19 = 36d^2/(19*20).
    assert z.iloc[20] == pytest.approx((18 / 20) / math.sqrt(36 / (19 * 20)))
    assert (rolling_zscore(pd.Series([0.0] * 30), 20).iloc[19:] == 0.0).all()
    with_gap = rolling_zscore(pd.Series([1.0, 2.0] * 15 + [np.nan] + [1.0, 2.0] * 5), 20)
    assert with_gap.iloc[30] == 0.0 and with_gap.iloc[-1] == 0.0


def test_compute_features_hand_values_on_a_linear_series() -> None:
    close = [100.0 + i for i in range(60)]
    volume = [1000.0] * 60
    volume[55] = 2000.0
    features = compute_features(ohlcv_from_close(close, volume))

    # sma_50 needs 50 closes, so the first row kept is row 49; 60 - 49 = 11 rows.
    assert len(features) == 11
    assert features.index[0] == pd.bdate_range("2024-01-01", periods=60)[49]
    row = features.iloc[0]  # close = 149
    assert row["sma_10"] == pytest.approx(149 - 4.5)  # mean of 140..149
    assert row["sma_20"] == pytest.approx(149 - 9.5)
    assert row["sma_50"] == pytest.approx(149 - 24.5)
    assert row["close_to_sma_50"] == pytest.approx(149 / 124.5 - 1)
    assert row["log_return"] == pytest.approx(math.log(149 / 148))
    assert row["rsi14"] == 100.0 and row["rsi_norm"] == 0.5  # only gains
    assert row["log_range_hl"] == pytest.approx(math.log(1.02 / 0.97))
    assert row["log_body_co"] == pytest.approx(math.log(1 / 0.99))
    assert row["macd_norm"] == pytest.approx(row["macd"] / 149)
    assert row["macd_hist_norm"] == pytest.approx((row["macd"] - row["macd_signal"]) / 149)
    # Flat volume: no spread, so z = 0; the one doubled day scores 19/sqrt(20) against its window.
    assert features.loc[features.index[0], "volume_z"] == 0.0
    assert features["volume_z"].iloc[55 - 49] == pytest.approx(19 / math.sqrt(20))


def test_missing_volume_gives_neutral_volume_z_not_a_dropped_row() -> None:
    volume: list[float] = [1000.0 + (i % 3) for i in range(60)]
    volume[52] = np.nan

    features = compute_features(ohlcv_from_close([100.0 + i for i in range(60)], volume))

    assert len(features) == 11
    assert (features["volume_z"].iloc[52 - 49 :] == 0.0).all()
    assert features["volume_z"].iloc[0] != 0.0


def test_columns_are_described_and_model_features_are_the_scale_free_subset() -> None:
    features = compute_features(ohlcv_from_close([100.0 + math.sin(i) for i in range(80)]))

    assert tuple(features.columns) == FEATURE_COLUMNS
    assert features.index.name == "date"
    assert all(dtype == np.float64 for dtype in features.dtypes)
    described = {d.name: d for d in FEATURE_DESCRIPTIONS}
    assert set(described) == set(FEATURE_COLUMNS)
    assert all(d.meaning for d in FEATURE_DESCRIPTIONS)
    assert tuple(d.name for d in FEATURE_DESCRIPTIONS if d.model_input) == MODEL_FEATURES
    assert len(MODEL_FEATURES) == 12
    assert "close" not in MODEL_FEATURES


def test_model_features_do_not_depend_on_the_price_level(ohlcv_dir: Path) -> None:
    # The transfer premise: ^GSPC at 5000 and a stock at 200 look alike to the model.
    frame = CsvSource(ohlcv_dir).fetch("AAPL", start=pd.Timestamp("2018-01-01").date()).frame
    scaled = frame.copy()
    scaled[["open", "high", "low", "close"]] *= 1000.0

    original = compute_features(frame)[list(MODEL_FEATURES)]
    rescaled = compute_features(scaled)[list(MODEL_FEATURES)]

    pd.testing.assert_frame_equal(original, rescaled, rtol=1e-9, atol=1e-12)


def test_features_are_causal(ohlcv_dir: Path) -> None:
    frame = CsvSource(ohlcv_dir).fetch("AAPL").frame.loc["2015-01-01":"2019-12-31"]
    cutoff = frame.index[800]
    baseline = compute_features(frame).loc[:cutoff]

    altered = frame.copy()
    future = altered.index > cutoff
    altered.loc[future, ["open", "high", "low", "close"]] *= 3.0
    altered.loc[future, "volume"] = 1.0
    extra_days = pd.bdate_range(frame.index[-1] + pd.offsets.BDay(1), periods=30, name="date")
    appended = pd.concat(
        [altered, pd.DataFrame(altered.iloc[-30:].to_numpy(), index=extra_days, columns=frame.columns)]
    )

    for changed in (altered, appended):
        pd.testing.assert_frame_equal(compute_features(changed).loc[:cutoff], baseline, check_exact=True)


def test_history_start_stops_mattering_after_the_settle_rows(ohlcv_dir: Path) -> None:
    frame = CsvSource(ohlcv_dir).fetch("MSFT").frame
    long_history = compute_features(frame)[list(MODEL_FEATURES)].iloc[-60:]
    short_history = compute_features(frame.iloc[-(EMA_SETTLE_ROWS + 60) :])[list(MODEL_FEATURES)].iloc[-60:]

    pd.testing.assert_frame_equal(short_history, long_history, rtol=0, atol=1e-6)


def test_bad_input_is_a_clear_value_error() -> None:
    frame = ohlcv_from_close([100.0] * 60)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['volume'\]"):
        compute_features(frame.drop(columns="volume"))
    broken = frame.copy()
    broken.iloc[3, broken.columns.get_loc("close")] = 0.0
    with pytest.raises(ValueError, match="prices must be > 0"):
        compute_features(broken)
