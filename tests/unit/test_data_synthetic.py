"""Synthetic prices: deterministic per (seed, ticker), OHLC-consistent, flagged as synthetic."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from stockops.data import DataUnavailableError, SyntheticSource, compute_features


def test_same_seed_and_ticker_give_identical_prices() -> None:
    first = SyntheticSource(42).fetch("AAPL")
    second = SyntheticSource(42).fetch("aapl")

    pd.testing.assert_frame_equal(first.frame, second.frame, check_exact=True)


def test_seed_and_ticker_each_change_the_series() -> None:
    base = SyntheticSource(42).fetch("AAPL").frame["close"]

    assert not np.allclose(base, SyntheticSource(43).fetch("AAPL").frame["close"])
    assert not np.allclose(base, SyntheticSource(42).fetch("MSFT").frame["close"])


def test_history_is_marked_synthetic() -> None:
    history = SyntheticSource(1).fetch("^GSPC")

    assert history.synthetic is True
    assert history.source == "synthetic"
    assert history.ticker == "^GSPC"


def test_a_dates_prices_do_not_depend_on_the_requested_range() -> None:
    source = SyntheticSource(9)
    full = source.fetch("TSLA").frame
    window = source.fetch("TSLA", start=date(2010, 3, 1), end=date(2010, 6, 30)).frame
    beyond = source.fetch("TSLA", start=date(2025, 12, 1), end=date(2027, 3, 31)).frame

    pd.testing.assert_frame_equal(window, full.loc["2010-03-01":"2010-06-30"], check_exact=True)
    pd.testing.assert_frame_equal(beyond.loc[:"2025-12-31"], full.loc["2025-12-01":], check_exact=True)
    assert beyond.index[-1] == pd.Timestamp("2027-03-31")


def test_ohlc_is_consistent_on_business_days() -> None:
    frame = SyntheticSource(3).fetch("AMZN").frame

    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
    assert (frame[["open", "high", "low", "close", "volume"]] > 0).all().all()
    assert (frame.index.dayofweek < 5).all()
    assert frame.index.is_unique and frame.index.is_monotonic_increasing


def test_regimes_make_volatility_vary() -> None:
    features = compute_features(SyntheticSource(11).fetch("AAPL").frame)

    # Bear regimes run at more than twice the bull volatility: the 20-day volatility must show both.
    quantiles = features["volatility_20"].quantile([0.05, 0.95])
    assert quantiles.iloc[1] > 1.8 * quantiles.iloc[0]


def test_range_before_the_synthetic_origin_is_unavailable() -> None:
    with pytest.raises(DataUnavailableError, match="synthetic data starts 1990-01-02"):
        SyntheticSource(1).fetch("AAPL", start=date(1980, 1, 1), end=date(1985, 1, 1))
