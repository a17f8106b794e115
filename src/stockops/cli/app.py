"""`stockops`: the whole pipeline on one machine, no cluster needed.

Every command reads settings once (STOCKOPS_HOME, MLFLOW_TRACKING_URI, STOCKOPS_DATA_SOURCE) and calls
the same pipeline functions the trainer Job and the predictor use.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from stockops.cli.errors import one_line_errors
from stockops.cli.render import SYNTHETIC_BANNER, forecast_table, metrics_table, summary_table
from stockops.config import Settings, load_settings
from stockops.gateway.cli import gateway as gateway_command
from stockops.gateway.cli import key_app as gateway_key_app

app = typer.Typer(
    name="stockops",
    help="Stock forecasting MLOps: train a parent index model, transfer-learn tickers, evaluate, forecast.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
features_app = typer.Typer(help="Feature store (Feast): ingest prices into features, materialize windows.")
app.add_typer(features_app, name="features")
# The HTTP gateway and its API keys (the commands live in stockops.gateway.cli).
app.command("gateway")(gateway_command)
app.add_typer(gateway_key_app, name="gateway-key")
# Rich falls back to 80 columns when stdout is not a terminal (CI logs, pipes); tables need more.
console = Console() if sys.stdout.isatty() else Console(width=140)

SourceOpt = Annotated[
    str | None,
    typer.Option(
        "--source", help="auto | yfinance | synthetic | csv:DIR (default: STOCKOPS_DATA_SOURCE or auto)"
    ),
]
StartOpt = Annotated[
    str | None, typer.Option("--start", help="First date used, YYYY-MM-DD (default 2004-01-01).")
]
EpochsOpt = Annotated[
    int | None, typer.Option("--epochs", min=1, help="Maximum epochs (early stopping may end sooner).")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (weights, shuffling).")]
MembersOpt = Annotated[
    int,
    typer.Option(
        "--members",
        min=1,
        max=16,
        help="Seed-ensemble members (seeds seed, seed+1, ...); forecast = their mean.",
    ),
]
MinSkillOpt = Annotated[
    float | None,
    typer.Option(
        "--min-skill", help="Promotion gate on test skill (default 0: not worse than the random walk)."
    ),
]
# TrainingConfig's default, spelled here so --help shows it without importing the model package
DEFAULT_MEMBERS = 1
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


@app.callback()
def _root(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            envvar="STOCKOPS_VERBOSE",
            help="Show third-party warnings and INFO logs (hidden by default: see stockops.quiet).",
        ),
    ] = False,
) -> None:
    """Console policy for every command, applied before any command imports its heavy libraries."""
    from stockops.quiet import quiet_third_party

    if verbose:
        logging.getLogger().setLevel(logging.INFO)
    quiet_third_party(verbose=verbose)


def _settings(source: str | None) -> tuple[Settings, str]:
    settings = load_settings()
    return settings, source or settings.data_source


def _date_option(value: str | None, flag: str = "--start") -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{flag} {value!r} is not a date in the form YYYY-MM-DD") from None


def _start(value: str | None) -> date | None:
    """Training start date; the pipeline's default when not given."""
    from stockops.pipeline import DEFAULT_START

    return DEFAULT_START if value is None else _date_option(value)


def _report(summary: Any) -> None:
    if summary.synthetic:
        console.print(SYNTHETIC_BANNER)
    console.print(metrics_table(summary.metrics, f"{summary.ticker} v{summary.model_version}: test split"))
    if summary.data_note:
        console.print(f"[yellow]note:[/] {summary.data_note}")
    colour = "green" if summary.promoted else "yellow"
    console.print(f"[{colour}]{summary.promotion_reason}[/]")
    for plot in summary.plot_paths.values():
        console.print(f"plot: {plot}")


@app.command("train-parent")
def train_parent(
    ticker: Annotated[str, typer.Option("--ticker", help="Broad index the parent learns from.")] = "^GSPC",
    source: SourceOpt = None,
    start: StartOpt = None,
    epochs: EpochsOpt = None,
    hidden_size: Annotated[int, typer.Option(min=1)] = 64,
    layers: Annotated[int, typer.Option(min=1)] = 2,
    dropout: Annotated[float, typer.Option(min=0.0, max=0.95)] = 0.1,
    context_days: Annotated[int, typer.Option(min=2)] = 60,
    horizon_days: Annotated[int, typer.Option(min=1)] = 5,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    learning_rate: Annotated[float, typer.Option("--lr", min=0.0)] = 1e-3,
    patience: Annotated[int, typer.Option(min=1)] = 5,
    seed: SeedOpt = 42,
    members: MembersOpt = DEFAULT_MEMBERS,
    min_skill: MinSkillOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train the parent model on a broad index and register it as stockops-<ticker>."""
    from stockops.model.config import ModelConfig, TrainingConfig
    from stockops.pipeline import TrainRequest, train_and_register

    with one_line_errors():
        settings, src = _settings(source)
        request = TrainRequest(
            ticker=ticker,
            kind="parent",
            source=src,
            start=_start(start),
            model=ModelConfig(
                hidden_size=hidden_size,
                num_layers=layers,
                dropout=dropout,
                context_days=context_days,
                horizon_days=horizon_days,
            ),
            training=TrainingConfig(
                epochs=epochs or 30,
                batch_size=batch_size,
                learning_rate=learning_rate,
                patience=patience,
                seed=seed,
                ensemble_members=members,
            ),
            min_skill=settings.promotion_min_skill if min_skill is None else min_skill,
        )
        summary = train_and_register(request, settings, progress=not as_json)
    _emit(summary, as_json)


@app.command("train-child")
def train_child(
    ticker: Annotated[str, typer.Argument(help="The stock to model, e.g. AAPL.")],
    parent: Annotated[str, typer.Option("--parent", help="Ticker of the parent model.")] = "^GSPC",
    parent_version: Annotated[
        str | None, typer.Option("--parent-version", help="Parent version (default: its production alias).")
    ] = None,
    strategy: Annotated[str, typer.Option("--strategy", help="freeze | fine-tune")] = "fine-tune",
    source: SourceOpt = None,
    start: StartOpt = None,
    epochs: EpochsOpt = None,
    learning_rate: Annotated[
        float | None, typer.Option("--lr", help="Default: parent lr x 0.1 for fine-tune.")
    ] = None,
    l2_sp: Annotated[
        float,
        typer.Option("--l2-sp", min=0.0, max=100.0, help="L2-SP pull toward the parent's weights (0 = off)."),
    ] = 0.0,
    seed: SeedOpt = 42,
    members: MembersOpt = DEFAULT_MEMBERS,
    min_skill: MinSkillOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Transfer-learn a ticker from its parent (freeze: head only; fine-tune: all layers, lower lr)."""
    from stockops.model.config import TrainingConfig, TransferConfig
    from stockops.pipeline import TrainRequest, train_and_register

    with one_line_errors():
        if strategy not in ("freeze", "fine-tune"):
            raise ValueError(f"--strategy must be freeze or fine-tune, got {strategy!r}")
        settings, src = _settings(source)
        request = TrainRequest(
            ticker=ticker,
            kind="child",
            source=src,
            start=_start(start),
            training=TrainingConfig(epochs=epochs or 30, seed=seed, ensemble_members=members),
            parent_ticker=parent,
            parent_version=parent_version,
            transfer=TransferConfig(
                strategy=strategy,  # type: ignore[arg-type]
                epochs=epochs,
                learning_rate=learning_rate,
                l2_sp=l2_sp,
            ),
            min_skill=settings.promotion_min_skill if min_skill is None else min_skill,
        )
        summary = train_and_register(request, settings, progress=not as_json)
    _emit(summary, as_json)


def _emit(summary: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2, default=str))
    else:
        _report(summary)


@app.command("evaluate")
def evaluate(
    ticker: Annotated[str, typer.Argument(help="Ticker whose registered model to show.")],
    version: Annotated[str | None, typer.Option("--version", help="Default: the production version.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a registered version's test-split metrics beside the random-walk baseline."""
    from stockops.registry.local_cache import cached_metrics
    from stockops.registry.naming import registered_model_name

    with one_line_errors():
        metrics = cached_metrics(load_settings(), registered_model_name(ticker), version)
    if as_json:
        typer.echo(json.dumps(metrics, indent=2, sort_keys=True))
        return
    if metrics.get("synthetic"):
        console.print(SYNTHETIC_BANNER)
    console.print(metrics_table(metrics, f"{ticker} v{metrics.get('model_version')}: test split"))


@app.command("backtest")
def backtest(
    ticker: Annotated[str, typer.Argument(help="Ticker to backtest, e.g. ^GSPC or AAPL.")],
    folds: Annotated[int, typer.Option("--folds", min=2, max=10, help="Expanding-window folds.")] = 5,
    parent: Annotated[
        str | None,
        typer.Option(
            "--parent",
            help="Backtest as a child of this registered parent (its config, retrained per fold). "
            "Default: train from scratch.",
        ),
    ] = None,
    strategy: Annotated[str, typer.Option("--strategy", help="freeze | fine-tune (with --parent)")] = (
        "fine-tune"
    ),
    source: SourceOpt = None,
    start: StartOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = 42,
    members: MembersOpt = DEFAULT_MEMBERS,
    as_json: JsonOpt = False,
) -> None:
    """Walk-forward backtest: per-fold skill vs both random walks, coverage, direction and a long/flat
    trading rule beside buy-and-hold, all out of sample; logged to MLflow (nothing is registered)."""
    from stockops.backtest import run_backtest
    from stockops.cli.render import backtest_folds_table, backtest_skill_line, backtest_trading_table
    from stockops.model.config import TrainingConfig, TransferConfig
    from stockops.model.walk_forward import WalkForwardConfig
    from stockops.pipeline import TrainRequest

    def fold_done(fold: Any) -> None:
        skill = "n/a" if fold.skill is None else f"{fold.skill:+.4f}"
        console.print(
            f"fold {fold.fold}/{folds}: tested on {fold.test_start}..{fold.test_end}, skill {skill}"
        )

    with one_line_errors():
        if strategy not in ("freeze", "fine-tune"):
            raise ValueError(f"--strategy must be freeze or fine-tune, got {strategy!r}")
        settings, src = _settings(source)
        request = TrainRequest(
            ticker=ticker,
            kind="child" if parent else "parent",
            source=src,
            start=_start(start),
            training=TrainingConfig(epochs=epochs or 30, seed=seed, ensemble_members=members),
            parent_ticker=parent,
            transfer=TransferConfig(strategy=strategy, epochs=epochs) if parent else None,  # type: ignore[arg-type]
        )
        outcome = run_backtest(
            request, settings, WalkForwardConfig(folds=folds), on_fold=None if as_json else fold_done
        )
    summary = outcome.summary.model_dump(mode="json")
    if as_json:
        typer.echo(
            json.dumps({"run_id": outcome.run_id, "data_source": outcome.data_source, **summary}, indent=2)
        )
        return
    if outcome.summary.synthetic:
        console.print(SYNTHETIC_BANNER)
    if outcome.data_note:
        console.print(f"[yellow]note:[/] {outcome.data_note}")
    console.print(backtest_folds_table(summary))
    console.print(backtest_skill_line(summary))
    console.print(backtest_trading_table(summary))
    console.print(f"MLflow run {outcome.run_id} (data {outcome.data_source}, as of {outcome.data_as_of})")


@app.command("monitor")
def monitor(
    ticker: Annotated[str, typer.Argument(help="Ticker whose production version to check.")],
    window: Annotated[
        int, typer.Option("--window", min=1, help="Newest stored sessions compared with the reference.")
    ] = 60,
    method: Annotated[
        str,
        typer.Option("--method", help="Evidently stattest per feature: ks, wasserstein, psi, ... or auto."),
    ] = "ks",
    as_json: JsonOpt = False,
) -> None:
    """Input drift of the production version: its training feature rows vs the newest sessions
    (Evidently, per feature: test, score, calibrated threshold), and the realised error of the forecasts
    it served (with STOCKOPS_REDIS_URL); report logged to MLflow and outputs/monitor/."""
    from stockops.cli.drift_table import drift_table, live_line, verdict_line
    from stockops.monitoring.check import monitor_drift
    from stockops.monitoring.live_check import ForecastLogUnavailableError, live_error

    settings = load_settings()
    with one_line_errors():
        outcome = monitor_drift(ticker, settings, window=window, method=None if method == "auto" else method)
    payload = outcome.to_dict()
    try:
        live: dict[str, Any] = live_error(
            ticker, settings, model_name=outcome.model_name, model_version=outcome.model_version
        ).to_dict()
    except ForecastLogUnavailableError as exc:  # drift is still worth showing
        live = {"verdict": "Unavailable", "message": str(exc), "skill": None}
    payload["live"] = live
    if as_json:
        typer.echo(json.dumps(payload, indent=2, sort_keys=True))
        return
    title = f"{ticker} v{outcome.model_version}: input drift, last {window} sessions vs training rows"
    console.print(drift_table(payload, title))
    console.print(verdict_line(payload))
    console.print(live_line(live))
    where = outcome.report_uri or "no HTML report (nothing tested)"
    console.print(f"MLflow run {outcome.monitor_run_id}: {where}; files in {outcome.local_dir}")


@app.command("predict")
def predict(
    ticker: Annotated[str, typer.Argument(help="Ticker to forecast.")],
    days: Annotated[int, typer.Option("--days", min=1, help="Business days ahead (1..horizon).")] = 5,
    version: Annotated[str | None, typer.Option("--version", help="Default: the production version.")] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source", help="Ingest fresh prices from this source first (default: stored features)."
        ),
    ] = None,
    as_json: JsonOpt = False,
    plot: Annotated[
        bool, typer.Option("--plot", help="Also write the fan chart (history, median, 10-90 %, naive) PNG.")
    ] = False,
    plot_path: Annotated[
        Path | None,
        typer.Option("--plot-path", help="Where --plot writes (implies --plot; default outputs/predict/)."),
    ] = None,
) -> None:
    """Dated business-day forecast from the production version, with the naive baseline beside it.

    The input window comes from the online feature store, as the predictor's does."""
    from stockops.feature_access import forecast_window
    from stockops.model.forecasting import forecast_prices
    from stockops.registry.local_cache import cached_forecast_bundle
    from stockops.registry.naming import registered_model_name

    with one_line_errors():
        settings = load_settings()
        name = registered_model_name(ticker)
        bundle, resolved = cached_forecast_bundle(settings, name, version)
        spec = bundle.feature_spec
        latest = forecast_window(ticker, spec.columns, spec.context_days, settings, source_spec=source)
        forecast = forecast_prices(bundle, latest.window, latest.last_close, latest.as_of, days)
    payload = {
        "ticker": ticker,
        "model_name": name,
        "model_version": resolved,
        "as_of": latest.as_of.isoformat(),
        "last_close": latest.last_close,
        "synthetic": latest.synthetic or bool(bundle.synthetic),
        "data_source": latest.data_source,
        "data_note": latest.note,
        "forecast": [
            {"date": p.date.isoformat(), "close": float(p.close), "low": p.low, "high": p.high}
            for p in forecast.points
        ],
        "interval": {"low_quantile": 0.1, "high_quantile": 0.9} if bundle.interval_offsets else None,
        "naive": [{"date": p.date.isoformat(), "close": float(p.close)} for p in forecast.naive],
        "no_edge": bundle.no_edge,
    }
    if plot or plot_path is not None:
        from stockops.cli.forecast_plot import write_forecast_plot

        with one_line_errors():
            written = write_forecast_plot(
                settings, forecast, no_edge=bundle.no_edge, version=resolved, path=plot_path
            )
        payload["plot_path"] = str(written)
    if as_json:
        typer.echo(json.dumps(payload, indent=2))
        return
    if payload["synthetic"]:
        console.print(SYNTHETIC_BANNER)
    if latest.note:
        console.print(f"[yellow]note:[/] {latest.note}")
    if bundle.no_edge:
        console.print("[yellow]note:[/] no edge over the random walk: the forecast is the last close")
    console.print(forecast_table(payload))
    if "plot_path" in payload:
        console.print(f"fan chart: {payload['plot_path']}")


@app.command("demo")
def demo(
    source: SourceOpt = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Max epochs per model.")] = 30,
    output: Annotated[
        Path | None, typer.Option("--output", help="Default: $STOCKOPS_HOME/outputs/demo")
    ] = None,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="Recent years, a small network, 2 epochs: checks a set-up in a minute."),
    ] = False,
) -> None:
    """Parent (^GSPC) + two children (AAPL freeze, MSFT fine-tune) end to end, with a summary table."""
    from stockops.demo import run_demo

    with one_line_errors():
        settings, src = _settings(source)
        out = output or settings.outputs_dir / "demo"
        rows = run_demo(settings, source=src, epochs=epochs, output_dir=out, console=console, quick=quick)
    if any(r["synthetic"] for r in rows):
        console.print(SYNTHETIC_BANNER)
    console.print(
        summary_table(rows, "StockOps demo: test-split results (skill = 1 - RMSE/RMSE_random_walk)")
    )
    console.print(f"outputs (plots, metrics JSON, summary): {out}")


@app.command("serve")
def serve(
    ticker: Annotated[str, typer.Argument(help="Ticker whose production version to serve.")],
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8080,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
) -> None:
    """Serve the production version over KServe's V1/V2 HTTP protocols on this machine (loopback)."""
    from stockops.predictor.serve import serve as serve_model

    with one_line_errors():
        serve_model(ticker, port, load_settings(), host=host)


@features_app.command("ingest")
def features_ingest(
    tickers: Annotated[list[str], typer.Argument(help="Tickers to ingest, e.g. AAPL MSFT ^GSPC.")],
    source: SourceOpt = None,
    start: Annotated[
        str | None, typer.Option("--start", help="First date, YYYY-MM-DD (default: all).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Prices -> features into the offline store (idempotent per ticker), then publish online windows."""
    from stockops.data.sources import source_from_string
    from stockops.feature_access import open_feature_store
    from stockops.featurestore.ingestion import ingest_tickers

    with one_line_errors():
        settings, src = _settings(source)
        first = _date_option(start)
        summary = ingest_tickers(tickers, source_from_string(src), open_feature_store(settings), start=first)
    rows = [
        {
            "ticker": r.ticker,
            "rows": r.rows,
            "first_date": r.first_date.isoformat(),
            "as_of": r.as_of.isoformat(),
            "data_source": r.data_source,
            "synthetic": r.synthetic,
        }
        for r in summary.results
    ]
    failures = [str(f) for f in summary.failures]
    if as_json:
        typer.echo(json.dumps({"ingested": rows, "failures": failures}, indent=2))
    else:
        for r in rows:
            flag = " [SYNTHETIC]" if r["synthetic"] else ""
            console.print(f"{r['ticker']}: {r['rows']} rows {r['first_date']}..{r['as_of']}{flag}")
        for f in failures:
            console.print(f"[bold red]error:[/] {f}", soft_wrap=True)
    if failures:
        raise typer.Exit(code=1)


@features_app.command("materialize")
def features_materialize(as_json: JsonOpt = False) -> None:
    """Publish every stored ticker's newest window to the online store (SQLite, or Redis if configured)."""
    from stockops.feature_access import open_feature_store
    from stockops.featurestore.ingestion import materialize

    with one_line_errors():
        published = materialize(open_feature_store(load_settings()))
    if as_json:
        typer.echo(json.dumps({t: d.isoformat() for t, d in published.items()}, indent=2))
    else:
        for ticker, as_of in sorted(published.items()):
            console.print(f"{ticker}: window as of {as_of}")


@app.command("analyze")
def analyze(
    ticker: Annotated[str, typer.Argument(help="Ticker whose forecast to analyse, e.g. AAPL.")],
    question: Annotated[str, typer.Argument(help='The question, e.g. "Should I worry about volatility?"')],
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            help="OpenAI-compatible LLM base URL (default STOCKOPS_LLM_ENDPOINT; none: template writer). "
            "The API key comes from STOCKOPS_LLM_API_KEY only.",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="LLM model name (default STOCKOPS_LLM_MODEL_NAME).")
    ] = None,
    version: Annotated[str | None, typer.Option("--version", help="Default: the production version.")] = None,
    days: Annotated[
        int | None, typer.Option("--days", min=1, max=60, help="Sessions ahead (default 5).")
    ] = None,
    max_revisions: Annotated[
        int | None, typer.Option("--max-revisions", min=0, max=5, help="Writer rounds after the first (2).")
    ] = None,
    news: Annotated[
        str | None,
        typer.Option(
            "--news", help="auto | yfinance | none | file:PATH | URL (default STOCKOPS_NEWS_SOURCE)."
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Skip the semantic cache lookup (the new report is stored).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """A checked report on the forecast: analysts, writer (LLM or template) and critic (LangGraph)."""
    from stockops.cli.analysis import analysis_errors, node_progress, print_report

    with analysis_errors():
        from stockops.agent.run import run_analysis
        from stockops.agent.settings import load_agent_settings

        overrides = {
            "llm_endpoint": endpoint,
            "llm_model": model,
            "forecast_days": days,
            "max_revisions": max_revisions,
            "news_source": news,
        }
        agent = load_agent_settings(**{k: v for k, v in overrides.items() if v is not None})
        settings = load_settings()
        with node_progress(enabled=not as_json) as progress:
            result = run_analysis(
                ticker, question, settings, agent, version=version, use_cache=not no_cache, progress=progress
            )
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json", exclude={"report_markdown"}), indent=2))
        return
    print_report(console, result)


@app.command("dev-cluster")
def dev_cluster(
    work_dir: Annotated[Path | None, typer.Option(help="Default: $STOCKOPS_HOME/dev-cluster")] = None,
    operator: Annotated[bool, typer.Option(help="Run the operator too.")] = True,
    nodes: Annotated[bool, typer.Option(help="Run KServe, the node agent and the service proxy too.")] = True,
    data: Annotated[
        str | None,
        typer.Option(help="Workloads' data source (default $STOCKOPS_DATA_SOURCE, else yfinance)."),
    ] = None,
) -> None:
    """A local cluster without Docker: real control plane and controllers, KServe, a node agent that
    runs pods as processes, MLflow on loopback and the operator; Ctrl-C stops all.

    Needs a source checkout (the test cluster is built from tests/e2e/testenv, cached).
    """
    from stockops.devcluster import run_dev_cluster

    code = run_dev_cluster(work_dir=work_dir, with_operator=operator, with_nodes=nodes, data_source=data)
    raise typer.Exit(code=code)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app(prog_name="stockops")


if __name__ == "__main__":
    main()
