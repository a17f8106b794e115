"""One analysis, end to end: the function the CLI (`stockops analyze`) and the Job
(`python -m stockops.agent`) both call.

1. Read the forecast (registry bundle or predictor): its model version and data date are the cache key.
2. Semantic cache: the same question (by embedding) on the same key returns the stored result, marked
   ``cached``.
3. Otherwise run the graph (`graph`), score the report, store it in the cache.
4. With a tracking URI (``MLFLOW_TRACKING_URI``), log a run: the report as ``analysis/report.md``, the
   result as ``analysis/result.json``, metrics ``critic_score`` and ``revisions``. Without one nothing
   is logged (an analysis never writes the local registry's database, whose answers the CLI caches).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from stockops.agent.errors import AnalysisInputError
from stockops.agent.facts import AnalysisFacts, ForecastFacts, MarketFacts, MetricFacts
from stockops.agent.nodes import AnalysisDeps, Progress, today_freshness
from stockops.agent.report import Report, ReportScore
from stockops.agent.semantic_cache import CacheKey, CacheStatus, SemanticCache, cache_plan
from stockops.agent.settings import AgentSettings, setting_names
from stockops.config import Settings

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
KIND_ANALYSIS = "analysis"
ARTIFACT_DIR = "analysis"
REPORT_FILE = "report.md"
RESULT_FILE = "result.json"


class AnalysisResult(BaseModel):
    """The machine result (``stockops analyze --json``; the Job's termination message is cut from it)."""

    ticker: str
    question: str
    stance: str
    confidence: str
    summary: str
    model_name: str
    model_version: str
    data_date: str
    generator: str
    cached: bool = False
    cache: CacheStatus
    critic_score: float
    score: ReportScore | None
    revisions: int
    objections: list[str] = Field(default_factory=list)
    report_markdown: str
    report: Report
    facts: AnalysisFacts | None = None
    trace: list[dict[str, Any]] = Field(default_factory=list)
    seconds: float = 0.0
    mlflow_run_id: str | None = None
    report_artifact: str | None = None


def validate_request(ticker: str, question: str) -> tuple[str, str]:
    from stockops.data.validation import normalize_ticker

    question = " ".join(question.split())
    if not question:
        raise AnalysisInputError(
            'the question is empty: ask something, e.g. "Should I worry about volatility?"'
        )
    if len(question) > MAX_QUESTION_CHARS:
        raise AnalysisInputError(
            f"the question has {len(question)} characters; keep it under {MAX_QUESTION_CHARS}"
        )
    try:
        return normalize_ticker(ticker), question
    except ValueError as exc:
        raise AnalysisInputError(str(exc)) from exc


def run_analysis(
    ticker: str,
    question: str,
    settings: Settings,
    agent: AgentSettings,
    *,
    version: str | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    today: dt.date | None = None,
    embedder: Any = None,
    env: dict[str, str] | None = None,
) -> AnalysisResult:
    from stockops.agent.llm import make_writer

    started = time.perf_counter()
    ticker, question = validate_request(ticker, question)
    today = today or dt.date.today()
    forecast = _step(
        progress, "forecast", lambda: read_forecast(ticker, settings, agent, version), _forecast_detail
    )

    key = CacheKey(ticker, forecast.model_version, forecast.as_of.isoformat(), agent.generator)
    cache, status = open_semantic_cache(settings, agent, embedder=embedder, env=env)
    if cache is not None and not use_cache:
        status = status.model_copy(
            update={"note": "lookup skipped for this call (--no-cache); report stored"}
        )
    elif cache is not None:
        hit, status = _lookup(cache, key, question, status, progress)
        if hit is not None:
            result = AnalysisResult.model_validate(
                {**hit, "cached": True, "cache": status, "seconds": time.perf_counter() - started}
            )
            return _logged(result, settings)

    writer = make_writer(agent)
    deps = AnalysisDeps(
        metrics=lambda f: _metrics(settings, f),
        market=lambda f: _market(settings, agent, f),
        freshness=today_freshness(today, finished_sessions_between),
        writer=writer,
        max_revisions=agent.max_revisions,
        progress=progress,
    )
    from stockops.agent.graph import run_graph

    final = run_graph(deps, {"ticker": ticker, "question": question, "forecast": forecast})
    report: Report = final["report"]
    result = AnalysisResult(
        ticker=ticker,
        question=question,
        stance=report.stance,
        confidence=report.confidence,
        summary=report.prose.summary,
        model_name=report.model_name,
        model_version=report.model_version,
        data_date=report.data_date,
        generator=report.generator,
        cached=False,
        cache=status,
        critic_score=report.score.overall if report.score else 0.0,
        score=report.score,
        revisions=report.revisions,
        objections=[o.line() for o in report.objections],
        report_markdown=final["markdown"],
        report=report,
        facts=final["facts"],
        trace=final.get("trace", []),
        seconds=time.perf_counter() - started,
    )
    if cache is not None:
        try:
            cache.store(key, question, result.model_dump(mode="json", exclude={"cache", "seconds", "cached"}))
        except Exception as exc:  # a cache that cannot store never fails the analysis
            log.warning("semantic cache: could not store the report: %s", exc)
            result.cache = status.model_copy(update={"note": f"not stored: {exc}"})
    return _logged(result, settings)


def read_forecast(
    ticker: str, settings: Settings, agent: AgentSettings, version: str | None
) -> ForecastFacts:
    from stockops.agent.forecast_source import predictor_forecast, registry_forecast
    from stockops.data.errors import DataError

    if agent.predictor_url:
        return predictor_forecast(ticker, agent.predictor_url, days=agent.forecast_days)
    try:
        return registry_forecast(
            ticker, settings, days=agent.forecast_days, version=version, train_hint=setting_names(agent).train
        )
    except DataError as exc:
        raise AnalysisInputError(f"{exc}", reason="NoData") from exc


def open_semantic_cache(
    settings: Settings, agent: AgentSettings, *, embedder: Any, env: dict[str, str] | None
) -> tuple[SemanticCache | None, CacheStatus]:
    url, path, off = cache_plan(
        mode=agent.semantic_cache,
        qdrant_url=agent.qdrant_url,
        home=settings.home_dir,
        env=env or dict(os.environ),
    )
    if off:
        return None, CacheStatus(enabled=False, note=off)
    if embedder is None:
        from stockops.agent.embeddings import WordLlamaEmbedder

        embedder = WordLlamaEmbedder()
    key = agent.qdrant_api_key.get_secret_value() if agent.qdrant_api_key else None
    cache = SemanticCache(embedder, agent.cache_threshold, path=path, url=url, api_key=key)
    return cache, cache.status()


def _lookup(
    cache: SemanticCache, key: CacheKey, question: str, status: CacheStatus, progress: Progress | None
) -> tuple[dict[str, Any] | None, CacheStatus]:
    from stockops.agent.semantic_cache import CacheBusy

    if progress:
        progress("start", "semantic_cache", "")
    try:
        hit = cache.lookup(key, question)
    except CacheBusy as exc:
        if progress:
            progress("done", "semantic_cache", "busy")
        return None, CacheStatus(enabled=False, backend=cache.backend, note=f"semantic cache off: {exc}")
    except Exception as exc:  # an unreachable cache server: analyse without it, and say so
        log.warning("semantic cache lookup failed: %s", exc)
        if progress:
            progress("done", "semantic_cache", "unavailable")
        return None, CacheStatus(
            enabled=False, backend=cache.backend, note=f"semantic cache unavailable: {exc}"
        )
    if hit is None:
        if progress:
            progress("done", "semantic_cache", "miss")
        return None, status
    if progress:
        progress("done", "semantic_cache", f"hit (similarity {hit.similarity:.3f})")
    note = f"same question as {hit.question!r}" if hit.question != question else None
    return hit.result, status.model_copy(
        update={"hit": True, "similarity": round(hit.similarity, 4), "note": note}
    )


def _metrics(settings: Settings, forecast: ForecastFacts) -> MetricFacts:
    from stockops.agent.forecast_source import registry_metrics

    return registry_metrics(settings, forecast.model_name, forecast.model_version)


def _market(settings: Settings, agent: AgentSettings, forecast: ForecastFacts) -> MarketFacts:
    from stockops.agent.market import load_closes, market_facts
    from stockops.agent.news import fetch_news

    closes, source, synthetic = load_closes(forecast.ticker, settings, until=forecast.as_of)
    news = fetch_news(agent.news_source, forecast.ticker)
    return market_facts(
        closes,
        news=news,
        data_source=source if source is not None else forecast.data_source,
        synthetic=forecast.synthetic if synthetic is None else synthetic,
    )


def finished_sessions_between(as_of: dt.date, today: dt.date) -> int:
    """NYSE sessions after ``as_of`` and before ``today`` (capped at 400: stale is stale)."""
    from stockops.data.calendar import trading_sessions_after

    span = min((today - as_of).days, 400)
    if span <= 1:
        return 0
    return sum(1 for day in trading_sessions_after(as_of, span) if day < today)


def _step(
    progress: Progress | None,
    node: str,
    work: Callable[[], ForecastFacts],
    detail: Callable[[ForecastFacts], str],
) -> ForecastFacts:
    if progress:
        progress("start", node, "")
    value = work()
    if progress:
        progress("done", node, detail(value))
    return value


def _forecast_detail(forecast: ForecastFacts) -> str:
    return f"{forecast.model_name} v{forecast.model_version}, data {forecast.as_of} ({forecast.source})"


def _logged(result: AnalysisResult, settings: Settings) -> AnalysisResult:
    if not settings.mlflow_tracking_uri:
        return result
    run_id = log_to_mlflow(result, settings)
    return result.model_copy(
        update={"mlflow_run_id": run_id, "report_artifact": f"runs:/{run_id}/{ARTIFACT_DIR}/{REPORT_FILE}"}
    )


def log_to_mlflow(result: AnalysisResult, settings: Settings) -> str:
    """A run in the StockOps experiment with the report and the result as artifacts."""
    from stockops.registry import naming
    from stockops.registry.tracking import TrackingTarget, connect

    client = connect(TrackingTarget.from_settings(settings))
    experiment = client.get_experiment_by_name(naming.EXPERIMENT_NAME)
    run = client.create_run(
        experiment.experiment_id,
        run_name=f"analysis-{naming.registered_model_name(result.ticker)}",
        tags={
            naming.TAG_TICKER: result.ticker,
            naming.TAG_KIND: KIND_ANALYSIS,
            "stockops.model_version": result.model_version,
            "stockops.data_date": result.data_date,
            "stockops.analysis.generator": result.generator,
            "stockops.analysis.stance": result.stance,
            "stockops.analysis.cached": str(result.cached).lower(),
            **(
                {"stockops.job_name": os.environ["STOCKOPS_JOB_NAME"]}
                if os.environ.get("STOCKOPS_JOB_NAME")
                else {}
            ),
        },
    )
    run_id = run.info.run_id
    try:
        client.log_metric(run_id, "critic_score", result.critic_score)
        client.log_metric(run_id, "revisions", result.revisions)
        if result.score is not None:
            for part in ("numbers", "stance", "sections"):
                client.log_metric(run_id, f"score_{part}", getattr(result.score, part))
        client.log_metric(run_id, "seconds", result.seconds)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / REPORT_FILE).write_text(result.report_markdown)
            payload = result.model_dump(mode="json", exclude={"report_markdown"})
            payload["mlflow_run_id"] = run_id
            (folder / RESULT_FILE).write_text(json.dumps(payload, indent=2, default=str))
            client.log_artifact(run_id, str(folder / REPORT_FILE), ARTIFACT_DIR)
            client.log_artifact(run_id, str(folder / RESULT_FILE), ARTIFACT_DIR)
        client.set_terminated(run_id, "FINISHED")
    except Exception:
        client.set_terminated(run_id, "FAILED")
        raise
    return str(run_id)
