"""Market context from closes (pure), news from a real file or URL source (never invented), and the
forecast/metrics facts read from the predictor's answer and the registry's metrics JSON."""

from __future__ import annotations

import datetime as dt
import json
import math
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockops.agent.facts import NewsFacts
from stockops.agent.forecast_source import drift_facts, facts_from_answer, metric_facts
from stockops.agent.market import market_facts, regime_of
from stockops.agent.news import NO_SOURCE, fetch_news, items_for, yfinance_item

NO_NEWS = NewsFacts(source=NO_SOURCE)


def closes_with(vols: list[tuple[int, float]], seed: int = 3) -> pd.Series:
    """Closes whose daily log returns have the given std for the given number of sessions, in order."""
    rng = np.random.default_rng(seed)
    returns = np.concatenate([rng.normal(0.0, sd, n) for n, sd in vols])
    prices = 100.0 * np.exp(np.cumsum(np.concatenate([[0.0], returns])))
    index = pd.bdate_range("2015-01-02", periods=len(prices), name="date")
    return pd.Series(prices, index=index)


def test_changes_and_volatility_are_computed_from_the_closes() -> None:
    closes = closes_with([(600, 0.01)])
    facts = market_facts(closes, news=NO_NEWS)
    values = closes.to_numpy()
    assert facts.last_close == pytest.approx(values[-1])
    assert facts.change_1d_pct == pytest.approx(100 * (values[-1] / values[-2] - 1))
    assert facts.change_5d_pct == pytest.approx(100 * (values[-1] / values[-6] - 1))
    assert facts.change_20d_pct == pytest.approx(100 * (values[-1] / values[-21] - 1))
    log_returns = np.diff(np.log(values))[-20:]
    assert facts.volatility_20d_pct == pytest.approx(100 * np.std(log_returns, ddof=1) * math.sqrt(252))
    assert facts.as_of == closes.index[-1].date()
    assert facts.history_sessions == 601


def test_a_calm_history_then_a_storm_is_the_high_regime() -> None:
    facts = market_facts(closes_with([(1000, 0.008), (25, 0.04)]), news=NO_NEWS)
    assert facts.regime == "high" and facts.volatility_percentile > 95


def test_a_storm_then_calm_is_the_calm_regime() -> None:
    facts = market_facts(closes_with([(1000, 0.03), (25, 0.004)]), news=NO_NEWS)
    assert facts.regime == "calm" and facts.volatility_percentile < 5


def test_a_short_history_has_no_regime() -> None:
    facts = market_facts(closes_with([(100, 0.01)]), news=NO_NEWS)
    assert facts.volatility_20d_pct is not None
    assert facts.regime is None and facts.volatility_percentile is None


def test_too_few_closes_for_longer_changes() -> None:
    facts = market_facts(closes_with([(3, 0.01)]), news=NO_NEWS)
    assert facts.change_1d_pct is not None
    assert facts.change_5d_pct is None and facts.volatility_20d_pct is None


@pytest.mark.parametrize(
    ("p", "regime"),
    [
        (0, "calm"),
        (24.9, "calm"),
        (25, "normal"),
        (74.9, "normal"),
        (75, "elevated"),
        (90, "high"),
        (100, "high"),
    ],
)
def test_regime_boundaries(p: float, regime: str) -> None:
    assert regime_of(p) == regime


def test_no_news_source_says_so() -> None:
    assert fetch_news("none", "AAPL") == NewsFacts(source=NO_SOURCE)


def test_news_from_a_file_keeps_the_tickers_items(tmp_path: Path) -> None:
    path = tmp_path / "news.json"
    path.write_text(
        json.dumps(
            [
                {"title": "Apple opens a new campus", "publisher": "Reuters", "tickers": ["AAPL"]},
                {"title": "Microsoft ships an update", "tickers": ["MSFT"]},
                {"title": "Markets close mixed"},
                {"title": ""},
            ]
        )
    )
    news = fetch_news(f"file:{path}", "AAPL")
    assert news.source == "file news.json"
    assert [i.title for i in news.items] == ["Apple opens a new campus", "Markets close mixed"]
    assert news.items[0].publisher == "Reuters"


def test_news_file_by_ticker_object() -> None:
    items = items_for({"AAPL": [{"title": "A"}], "MSFT": [{"title": "M"}]}, "MSFT")
    assert [i.title for i in items] == ["M"]


def test_a_missing_news_file_is_no_news_not_a_failure(tmp_path: Path) -> None:
    news = fetch_news(f"file:{tmp_path / 'absent.json'}", "AAPL")
    assert news.items == () and news.source.startswith("no news: file absent.json unreachable")


def test_an_unreachable_news_url_is_no_news() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    news = fetch_news(f"http://127.0.0.1:{port}/news/{{ticker}}.json", "AAPL", timeout=5)
    assert news.items == ()
    assert news.source.startswith(f"no news: url http://127.0.0.1:{port}/news/AAPL.json unreachable")


def test_unknown_news_source_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown news source"):
        fetch_news("rss", "AAPL")


def test_yfinance_articles_in_both_layouts() -> None:
    new = {
        "content": {
            "title": "Apple beats",
            "provider": {"displayName": "Yahoo"},
            "pubDate": "2024-05-30",
            "canonicalUrl": {"url": "https://x"},
        }
    }
    old = {
        "title": "Apple misses",
        "publisher": "Reuters",
        "link": "https://y",
        "providerPublishTime": 1717000000,
    }
    assert yfinance_item(new).model_dump() == {
        "title": "Apple beats",
        "publisher": "Yahoo",
        "published": "2024-05-30",
        "url": "https://x",
    }
    assert yfinance_item(old).publisher == "Reuters" and yfinance_item(old).url == "https://y"
    assert yfinance_item({"content": {}}) is None


ANSWER = {
    "ticker": "AAPL",
    "model_name": "stockops-aapl",
    "model_version": "3",
    "as_of": "2024-05-31",
    "days": 2,
    "last_close": 191.3,
    "forecast": [
        {"date": "2024-06-03", "close": 192.1, "low": 187.9, "high": 196.0},
        {"date": "2024-06-04", "close": 192.5, "low": None, "high": None},
    ],
    "interval": {"low_quantile": 0.1, "high_quantile": 0.9},
    "naive": [],
    "risk": "medium",
    "synthetic": False,
    "data_source": "csv:AAPL.csv",
    "no_edge": False,
    "cached": True,
}


def test_a_predictor_answer_becomes_forecast_facts() -> None:
    facts = facts_from_answer(ANSWER, source="predictor")
    assert facts.model_version == "3" and facts.as_of == dt.date(2024, 5, 31)
    assert facts.points[0].low == 187.9 and facts.points[1].low is None
    assert facts.horizon_days == 2 and facts.source == "predictor"
    assert facts.expected_change_pct == pytest.approx(100 * (192.5 / 191.3 - 1))


def test_registry_metrics_become_percent_facts_with_the_base_rate() -> None:
    metrics = {
        "skill": 0.02,
        "skill_ci_low": -0.01,
        "skill_ci_high": 0.05,
        "directional_accuracy": 0.525,
        "directional_count": 200,
        "up_rate": 0.44,
        "interval_coverage": 0.763,
        "test_start": "2025-10-14",
        "test_end": "2026-07-31",
    }
    facts = metric_facts(metrics, None)
    assert facts.directional_accuracy_pct == pytest.approx(52.5)
    assert facts.base_rate_pct == pytest.approx(56.0)  # always guessing "down" scores 56 %
    assert facts.interval_coverage_pct == pytest.approx(76.3)
    assert facts.test_end == dt.date(2026, 7, 31)
    assert not facts.beats_random_walk and not facts.direction_beats_base_rate


def test_nan_metrics_are_unknown() -> None:
    facts = metric_facts({"skill": float("nan"), "skill_ci_low": None}, None)
    assert facts.skill is None and facts.skill_ci_low is None


def test_drift_run_becomes_drift_facts() -> None:
    assert drift_facts(None) is None
    drift = drift_facts({"verdict": "Drifted", "drift_share": 0.25, "checked_at": "2024-06-01 10:00 UTC"})
    assert drift is not None and drift.verdict == "Drifted" and drift.share_pct == 25.0
