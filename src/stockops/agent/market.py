"""Market context: recent price action and the volatility regime, from the closes the model saw.

`market_facts` is pure (closes in, facts out); `load_closes` is the I/O edge: the feature store's
offline rows up to the forecast's data date (the same rows the model's window was cut from), or, when
the store holds nothing for the ticker (a fresh agent pod), the configured price source cut at that date.

Regime: today's 20-day annualised volatility ranked among every 20-day window of the last
`LONG_RUN_SESSIONS` sessions: below the 25th percentile ``calm``, below the 75th ``normal``, below the
90th ``elevated``, else ``high``. A ticker with fewer than `MIN_HISTORY_SESSIONS` sessions has no regime
(a percentile of a few months says little).
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from stockops.agent.facts import MarketFacts, NewsFacts, VolRegime
from stockops.config import Settings

VOL_WINDOW = 20
LONG_RUN_SESSIONS = 2520  # about ten years
MIN_HISTORY_SESSIONS = 250
TRADING_DAYS_PER_YEAR = 252


def regime_of(percentile: float) -> VolRegime:
    if percentile < 25.0:
        return "calm"
    if percentile < 75.0:
        return "normal"
    if percentile < 90.0:
        return "elevated"
    return "high"


def market_facts(
    closes: pd.Series, *, news: NewsFacts, data_source: str = "", synthetic: bool = False
) -> MarketFacts:
    """Changes over 1/5/20 sessions, 20-day volatility and its long-run percentile (pure)."""
    closes = closes.dropna()
    closes = closes[closes > 0].iloc[-LONG_RUN_SESSIONS:]
    if closes.empty:
        raise ValueError("no positive closes to describe the market with")
    values = closes.to_numpy(dtype=np.float64)
    last = float(values[-1])

    def change(sessions: int) -> float | None:
        if len(values) <= sessions:
            return None
        return 100.0 * (last / float(values[-1 - sessions]) - 1.0)

    log_returns = np.diff(np.log(values))
    vol = percentile = None
    regime: VolRegime | None = None
    if log_returns.size >= VOL_WINDOW:
        rolling = (
            pd.Series(log_returns).rolling(VOL_WINDOW).std(ddof=1).dropna().to_numpy()
            * math.sqrt(TRADING_DAYS_PER_YEAR)
            * 100.0
        )
        vol = float(rolling[-1])
        if len(values) >= MIN_HISTORY_SESSIONS:
            percentile = float(100.0 * np.mean(rolling <= vol))
            regime = regime_of(percentile)
    return MarketFacts(
        as_of=pd.Timestamp(closes.index[-1]).date(),
        last_close=last,
        change_1d_pct=change(1),
        change_5d_pct=change(5),
        change_20d_pct=change(VOL_WINDOW),
        volatility_20d_pct=vol,
        volatility_percentile=percentile,
        regime=regime,
        history_sessions=len(values),
        data_source=data_source,
        synthetic=synthetic,
        news=news,
    )


def load_closes(
    ticker: str, settings: Settings, *, until: dt.date
) -> tuple[pd.Series, str | None, bool | None]:
    """(closes up to ``until``, their source, synthetic?) for ``ticker``; source and synthetic are None
    for the feature store's rows, whose provenance is the forecast window's (they are the same rows)."""
    from stockops.featurestore.errors import FeatureStoreEmpty
    from stockops.featurestore.layout import StoreLayout
    from stockops.featurestore.offline import stored_closes
    from stockops.featurestore.store import store_dir_from_settings

    layout = StoreLayout(store_dir_from_settings(settings))
    try:
        closes = stored_closes(ticker, LONG_RUN_SESSIONS + 1, layout=layout, until=until)
        return closes, None, None
    except FeatureStoreEmpty:
        pass
    from stockops.data.sources import source_from_string

    history = source_from_string(settings.data_source).fetch(ticker, end=until)
    return history.frame["close"], history.source, history.synthetic
