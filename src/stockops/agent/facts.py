"""The facts an analysis is written from: forecast, model metrics, market context, news.

Every number a report may state comes from these models (the critic checks the draft against them), so
they are typed and validated once, where they are read (`forecast_source`, `market`, `news`), and passed
inward as values. Percentages are stored as percent (``1.5`` means 1.5 %), prices in price units, the
way a report prints them.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

VolRegime = Literal["calm", "normal", "elevated", "high"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ForecastPointFact(Frozen):
    date: dt.date
    close: float = Field(gt=0)
    low: float | None = None  # the 10 % bound; None: the model has no interval
    high: float | None = None  # the 90 % bound

    def change_pct(self, last_close: float) -> float:
        return 100.0 * (self.close / last_close - 1.0)


class ForecastFacts(Frozen):
    """What the model says: the median path and its 10-90 % interval, from one model version."""

    ticker: str
    model_name: str
    model_version: str
    as_of: dt.date = Field(description="The data date: the close the forecast starts from.")
    last_close: float = Field(gt=0)
    points: tuple[ForecastPointFact, ...] = Field(min_length=1)
    interval_quantiles: tuple[float, float] | None = (0.1, 0.9)
    no_edge: bool = False
    synthetic: bool = False
    data_source: str = ""
    source: str = Field(default="registry", description="registry | predictor (where it was read).")
    note: str | None = None

    @property
    def horizon_days(self) -> int:
        return len(self.points)

    @property
    def end(self) -> ForecastPointFact:
        return self.points[-1]

    @property
    def expected_change_pct(self) -> float:
        return self.end.change_pct(self.last_close)

    @property
    def interval_change_pct(self) -> tuple[float, float] | None:
        """The horizon end's 10 % and 90 % bounds as a change from the last close, in percent."""
        if self.end.low is None or self.end.high is None:
            return None
        return (
            100.0 * (self.end.low / self.last_close - 1.0),
            100.0 * (self.end.high / self.last_close - 1.0),
        )


class DriftFacts(Frozen):
    verdict: Literal["NoDrift", "Drifted", "InsufficientData"]
    share_pct: float | None = None  # drifted features / tested features
    checked_at: str | None = None


class MetricFacts(Frozen):
    """How much to trust the model: its test-split record against the random walk."""

    skill: float | None = Field(default=None, description="1 - RMSE/RMSE_random_walk on the test split.")
    skill_ci_low: float | None = None
    skill_ci_high: float | None = None
    directional_accuracy_pct: float | None = None
    directional_count: int | None = None
    base_rate_pct: float | None = Field(
        default=None, description="Always guessing the test split's more common direction (max(up, down))."
    )
    interval_coverage_pct: float | None = None
    test_start: dt.date | None = None
    test_end: dt.date | None = None
    drift: DriftFacts | None = None

    @property
    def beats_random_walk(self) -> bool:
        """Skill's 95 % interval lies above 0 (otherwise indistinguishable from the random walk)."""
        return self.skill_ci_low is not None and self.skill_ci_low > 0.0

    @property
    def direction_beats_base_rate(self) -> bool:
        """Directional accuracy above the base rate by more than two binomial standard errors."""
        da, base, n = self.directional_accuracy_pct, self.base_rate_pct, self.directional_count
        if da is None or base is None or not n:
            return False
        p = base / 100.0
        se_pct = 100.0 * (p * (1.0 - p) / n) ** 0.5
        return da - base > 2.0 * se_pct


class NewsItem(Frozen):
    title: str = Field(min_length=1, max_length=400)
    publisher: str | None = None
    published: str | None = None
    url: str | None = None


class NewsFacts(Frozen):
    source: str = Field(description="Where the headlines came from, or why there are none.")
    items: tuple[NewsItem, ...] = ()


class MarketFacts(Frozen):
    """Recent price action and the volatility regime, from the same closes the model's window came from."""

    as_of: dt.date
    last_close: float = Field(gt=0)
    change_1d_pct: float | None = None
    change_5d_pct: float | None = None
    change_20d_pct: float | None = None
    volatility_20d_pct: float | None = Field(default=None, description="Annualised, from 20 daily returns.")
    volatility_percentile: float | None = Field(
        default=None, description="Where today's 20-day volatility ranks among this ticker's history (0-100)."
    )
    regime: VolRegime | None = None
    history_sessions: int = Field(ge=0, description="Sessions the percentile was computed over.")
    data_source: str = ""
    synthetic: bool = False
    news: NewsFacts = NewsFacts(source="no news source configured")


class Freshness(Frozen):
    """How old the data date is when the analysis runs (a forecast of days already past is no forecast)."""

    today: dt.date
    sessions_since_as_of: int = Field(ge=0, description="Finished NYSE sessions after the data date.")

    @property
    def stale(self) -> bool:
        return self.sessions_since_as_of > STALE_AFTER_SESSIONS


STALE_AFTER_SESSIONS = 2  # a data date 3+ finished sessions old: the prices the model saw are not today's


class AnalysisFacts(Frozen):
    """Everything the writer and the critic see."""

    ticker: str
    question: str
    forecast: ForecastFacts
    metrics: MetricFacts
    market: MarketFacts
    freshness: Freshness
