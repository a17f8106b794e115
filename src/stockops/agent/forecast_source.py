"""Where the forecast analyst reads what the model says and how much to trust it.

The forecast: the production version's bundle from the registry, run here on the online feature window
(what ``stockops predict`` does), or, with ``STOCKOPS_PREDICTOR_URL``, a KServe V1 request to the
ticker's predictor (what a cluster serves). Both give the predictor's answer layout, turned into
`ForecastFacts` by one pure function. The metrics: the JSON logged with that version in the registry
(test skill with its 95 % interval, directional accuracy, the up rate) and the newest drift check of that
version (a ``stockops monitor`` run), when there is one.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from stockops.agent.errors import AnalysisInputError
from stockops.agent.facts import DriftFacts, ForecastFacts, ForecastPointFact, MetricFacts
from stockops.agent.settings import CLI_NAMES
from stockops.config import Settings


def facts_from_answer(answer: dict[str, Any], *, source: str) -> ForecastFacts:
    """A predictor answer (V1 prediction or ``stockops predict --json``) as facts (pure)."""
    quantiles = answer.get("interval")
    return ForecastFacts(
        ticker=str(answer["ticker"]),
        model_name=str(answer["model_name"]),
        model_version=str(answer["model_version"]),
        as_of=dt.date.fromisoformat(str(answer["as_of"])),
        last_close=float(answer["last_close"]),
        points=tuple(
            ForecastPointFact(
                date=dt.date.fromisoformat(str(p["date"])),
                close=float(p["close"]),
                low=None if p.get("low") is None else float(p["low"]),
                high=None if p.get("high") is None else float(p["high"]),
            )
            for p in answer["forecast"]
        ),
        interval_quantiles=(float(quantiles["low_quantile"]), float(quantiles["high_quantile"]))
        if quantiles
        else None,
        no_edge=bool(answer.get("no_edge", False)),
        synthetic=bool(answer.get("synthetic", False)),
        data_source=str(answer.get("data_source") or ""),
        source=source,
        note=answer.get("data_note") or answer.get("note"),
    )


def metric_facts(metrics: dict[str, Any], drift: DriftFacts | None) -> MetricFacts:
    """The registry's metrics JSON as facts (pure); fractions become percent."""

    def pct(key: str) -> float | None:
        value = _finite(metrics.get(key))
        return None if value is None else 100.0 * value

    up = _finite(metrics.get("up_rate"))
    count = metrics.get("directional_count")
    return MetricFacts(
        skill=_finite(metrics.get("skill")),
        skill_ci_low=_finite(metrics.get("skill_ci_low")),
        skill_ci_high=_finite(metrics.get("skill_ci_high")),
        directional_accuracy_pct=pct("directional_accuracy"),
        directional_count=None if count is None else int(count),
        base_rate_pct=None if up is None else 100.0 * max(up, 1.0 - up),
        interval_coverage_pct=pct("interval_coverage"),
        test_start=_date(metrics.get("test_start")),
        test_end=_date(metrics.get("test_end")),
        drift=drift,
    )


def drift_facts(run: dict[str, Any] | None) -> DriftFacts | None:
    """The newest monitor run's verdict (tags/metrics as read from MLflow) as facts (pure)."""
    if not run or not run.get("verdict"):
        return None
    share = _finite(run.get("drift_share"))
    return DriftFacts(
        verdict=run["verdict"],
        share_pct=None if share is None else 100.0 * share,
        checked_at=run.get("checked_at"),
    )


# -- I/O edges ------------------------------------------------------------------------------------------


def registry_forecast(
    ticker: str,
    settings: Settings,
    *,
    days: int,
    version: str | None = None,
    train_hint: str = CLI_NAMES.train,
) -> ForecastFacts:
    """The production (or given) version's forecast, computed here from the online feature window.

    ``train_hint`` is what the ModelNotFound message tells the user to train (CLI or TickerModel)."""
    from stockops.feature_access import forecast_window
    from stockops.model.forecasting import forecast_prices
    from stockops.registry.loading import ModelNotFoundError
    from stockops.registry.local_cache import cached_forecast_bundle
    from stockops.registry.naming import registered_model_name

    name = registered_model_name(ticker)
    try:
        bundle, resolved = cached_forecast_bundle(settings, name, version)
    except ModelNotFoundError as exc:
        raise AnalysisInputError(
            f"{ticker}: no {'version ' + version if version else 'production version'} of {name} to "
            f"analyse; train one first with {train_hint.format(ticker=ticker)}, then run the analysis again",
            reason="ModelNotFound",
        ) from exc
    spec = bundle.feature_spec
    latest = forecast_window(ticker, spec.columns, spec.context_days, settings)
    forecast = forecast_prices(
        bundle, latest.window, latest.last_close, latest.as_of, min(days, spec.horizon_days)
    )
    answer = {
        "ticker": ticker,
        "model_name": name,
        "model_version": resolved,
        "as_of": latest.as_of.isoformat(),
        "last_close": latest.last_close,
        "forecast": [
            {"date": p.date.isoformat(), "close": p.close, "low": p.low, "high": p.high}
            for p in forecast.points
        ],
        "interval": {"low_quantile": 0.1, "high_quantile": 0.9} if bundle.interval_offsets else None,
        "no_edge": bundle.no_edge,
        "synthetic": latest.synthetic or bool(bundle.synthetic),
        "data_source": latest.data_source,
        "data_note": latest.note,
    }
    return facts_from_answer(answer, source="registry")


def predictor_forecast(ticker: str, url: str, *, days: int, timeout: float = 30.0) -> ForecastFacts:
    """A KServe V1 ``:predict`` request to the ticker's predictor at ``url``."""
    import requests

    from stockops.registry.naming import registered_model_name

    name = registered_model_name(ticker)
    endpoint = f"{url.rstrip('/')}/v1/models/{name}:predict"
    try:
        response = requests.post(endpoint, json={"instances": [{"days": days}]}, timeout=timeout)
    except requests.RequestException as exc:
        raise AnalysisInputError(
            f"{ticker}: the predictor at {url} did not answer ({type(exc).__name__}); check "
            "STOCKOPS_PREDICTOR_URL and that the TickerModel is serving",
            reason="PredictorUnavailable",
        ) from exc
    if response.status_code >= 400:
        raise AnalysisInputError(
            f"{ticker}: the predictor at {endpoint} answered HTTP {response.status_code}: "
            f"{response.text[:300]}",
            reason="PredictorError",
        )
    predictions = response.json().get("predictions") or []
    if not predictions:
        raise AnalysisInputError(f"{ticker}: the predictor at {endpoint} returned no prediction")
    return facts_from_answer(predictions[0], source="predictor")


def registry_metrics(settings: Settings, model_name: str, version: str) -> MetricFacts:
    """The version's metrics JSON and its newest drift check (both cached like ``stockops evaluate``)."""
    from stockops.registry.local_cache import cached_metrics

    metrics = cached_metrics(settings, model_name, version)
    return metric_facts(metrics, drift_facts(latest_drift(settings, str(metrics.get("run_id") or ""))))


def latest_drift(settings: Settings, training_run_id: str) -> dict[str, Any] | None:
    """The newest ``stockops monitor`` run of the version trained by ``training_run_id``, or None."""
    if not training_run_id:
        return None
    from stockops.registry.local_cache import registry_cache
    from stockops.stamped_cache import ANSWER

    def fill(tmp: Path) -> None:
        (tmp / ANSWER).write_text(json.dumps({"run": _search_drift(settings, training_run_id)}))

    entry = registry_cache(settings).fetch(f"drift/{training_run_id}", fill)
    if entry is None:
        return _search_drift(settings, training_run_id)
    return json.loads((entry / ANSWER).read_text())["run"]


def _search_drift(settings: Settings, training_run_id: str) -> dict[str, Any] | None:
    from stockops.monitoring.check import TAG_TRAINING_RUN, TAG_VERDICT
    from stockops.registry.naming import EXPERIMENT_NAME, TAG_KIND
    from stockops.registry.tracking import TrackingTarget, connect

    client = connect(TrackingTarget.from_settings(settings))
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{TAG_KIND}` = 'monitor' and tags.`{TAG_TRAINING_RUN}` = '{training_run_id}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    run = runs[0]
    started = dt.datetime.fromtimestamp(run.info.start_time / 1000, tz=dt.UTC)
    return {
        "verdict": run.data.tags.get(TAG_VERDICT),
        "drift_share": run.data.metrics.get("drift_share"),
        "checked_at": started.strftime("%Y-%m-%d %H:%M UTC"),
        "run_id": run.info.run_id,
    }


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None
