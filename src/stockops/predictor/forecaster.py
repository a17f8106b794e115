"""The serving core, free of HTTP and KServe: queries in, JSON-ready answers out.

It owns one loaded model version and decides, per query, which window to use (the latest one from the
`WindowProvider`, or the caller's), whether the cache already has the answer, and otherwise runs the
shared ML core (`stockops.model.forecasting.forecast_prices`). The KServe model class only parses and
encodes around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from stockops.predictor import metrics
from stockops.predictor.cache import PredictionCache, cache_key, window_digest
from stockops.predictor.requests import ForecastQuery, LatestQuery, RequestError, ServingShape
from stockops.predictor.responses import AnswerContext, build_answer
from stockops.predictor.risk import risk_label
from stockops.predictor.windows import WindowProvider, realized_volatility_of_window

if TYPE_CHECKING:
    from stockops.model.bundle import ModelBundle
    from stockops.monitoring.forecast_log import ForecastLog

REQUEST_DATA_SOURCE = "request"


@dataclass(frozen=True, eq=False)
class _Resolved:
    window: np.ndarray
    as_of: date
    last_close: float
    source: str
    synthetic: bool
    digest: str | None


class Forecaster:
    """One model version, ready to answer; cheap to call, not thread-safe for concurrent loads."""

    def __init__(
        self,
        bundle: ModelBundle,
        *,
        model_name: str,
        model_version: str,
        provider: WindowProvider,
        cache: PredictionCache | None,
        local_cache: PredictionCache | None = None,
        forecast_log: ForecastLog | None = None,
    ) -> None:
        spec = bundle.feature_spec
        self.forecast_log = forecast_log
        self._recorded: dict[int, date] = {}  # days -> as-of date last recorded by this process
        self.bundle = bundle
        self.model_name = model_name
        self.model_version = model_version
        self.provider = provider
        self.cache = cache
        self.local_cache = local_cache
        self.shape = ServingShape(
            ticker=bundle.ticker,
            feature_columns=tuple(spec.columns),
            context_days=spec.context_days,
            horizon_days=spec.horizon_days,
        )

    def _resolve(self, query: ForecastQuery) -> _Resolved:
        if isinstance(query, LatestQuery):
            latest = self.provider.latest_window(
                self.shape.ticker, self.shape.feature_columns, self.shape.context_days
            )
            return _Resolved(
                latest.window, latest.as_of, latest.last_close, latest.source, latest.synthetic, None
            )
        return _Resolved(
            query.window,
            query.as_of,
            query.last_close,
            REQUEST_DATA_SOURCE,
            False,
            window_digest(query.window, query.last_close),
        )

    def _compute(self, resolved: _Resolved, days: int) -> dict[str, Any]:
        from stockops.model.forecasting import ForecastInputError, forecast_prices

        try:
            forecast = forecast_prices(
                self.bundle, resolved.window, resolved.last_close, resolved.as_of, days
            )
        except ForecastInputError as exc:  # the parser checks first; this is the core's own guard
            raise RequestError(exc.field, exc.problem) from exc
        volatility = realized_volatility_of_window(resolved.window, self.shape.feature_columns)
        context = AnswerContext(
            ticker=self.shape.ticker,
            model_name=self.model_name,
            model_version=self.model_version,
            synthetic=bool(self.bundle.synthetic or resolved.synthetic),
            data_source=resolved.source,
            no_edge=self.bundle.no_edge,
        )
        return build_answer(
            context,
            as_of=forecast.as_of,
            last_close=forecast.last_close,
            dates=[p.date for p in forecast.points],
            closes=[p.close for p in forecast.points],
            lows=[p.low for p in forecast.points],
            highs=[p.high for p in forecast.points],
            risk=risk_label(volatility),
            realized_volatility=volatility,
        )

    def answer(self, queries: Sequence[ForecastQuery]) -> tuple[list[dict[str, Any]], list[bool]]:
        """Answers in query order and, per answer, whether it came from the cache."""
        answers: list[dict[str, Any]] = []
        cached: list[bool] = []
        seen: dict[str, tuple[dict[str, Any], bool]] = {}
        for query in queries:
            resolved = self._resolve(query)
            key = cache_key(
                model_name=self.model_name,
                model_version=self.model_version,
                ticker=self.shape.ticker,
                as_of=resolved.as_of,
                days=query.days,
                digest=resolved.digest,
            )
            if key in seen:  # same question twice in one request: answer once
                answer, hit = seen[key]
            else:
                answer, hit = self._lookup_or_compute(key, resolved, query.days)
                seen[key] = (answer, hit)
            answers.append(answer)
            cached.append(hit)
        return answers, cached

    def _computed(self, resolved: _Resolved, days: int) -> dict[str, Any]:
        """A fresh answer, recorded for realised-error monitoring when it forecasts the stored latest
        window (a caller's window is a what-if) and this process has not recorded that day yet."""
        answer = self._compute(resolved, days)
        log = self.forecast_log
        if (
            log is not None
            and resolved.digest is None
            and self._recorded.get(days) != resolved.as_of
            and log.record(answer)
        ):
            self._recorded[days] = resolved.as_of
        return answer

    def _lookup_or_compute(self, key: str, resolved: _Resolved, days: int) -> tuple[dict[str, Any], bool]:
        """In-process tier, then Redis, then the network; what is computed goes to both tiers."""
        if self.cache is None:
            return self._computed(resolved, days), False
        local = self.local_cache
        if local is not None and (found := local.get(key)) is not None:
            metrics.CACHE_LOCAL_HITS.inc()
            return found, True
        found = self.cache.get(key)
        if found is not None:
            metrics.CACHE_LOOKUPS.labels(result="hit").inc()
            if local is not None:
                local.put(key, found)
            return found, True
        metrics.CACHE_LOOKUPS.labels(result="miss").inc()
        answer = self._computed(resolved, days)
        self.cache.put(key, answer)
        if local is not None:
            local.put(key, answer)
        return answer, False
