"""Rich tables for training summaries, metrics and forecasts (pure: data in, renderables out)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

SYNTHETIC_BANNER = "[bold yellow]SYNTHETIC DATA[/]: these numbers say nothing about real markets"


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


NO_EDGE_LABEL = "no edge over the random walk"
NO_DIRECTION_LABEL = "no direction"


def direction_cell(row: dict[str, Any]) -> str:
    """Directional accuracy over the pairs where the model predicts a move; "no direction" when it
    predicts none (a random-walk forecast makes no up/down call, so 0.000 would be a false statement)."""
    value = row.get("directional_accuracy")
    if value is None and row.get("directional_count") == 0:
        return NO_DIRECTION_LABEL
    return _fmt(value, 3)


def skill_with_interval(row: dict[str, Any], key: str = "skill", digits: int = 3) -> str:
    """``+0.012 [-0.004, +0.027]``: skill with its 95 % bootstrap interval where one is known."""
    value = row.get(key)
    if value is None:
        return "-"
    low, high = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
    text = f"{value:+.{digits}f}"
    if low is not None and high is not None:
        text += f" [{low:+.{digits}f}, {high:+.{digits}f}]"
    return text


def metrics_table(metrics: dict[str, Any], title: str) -> Table:
    """Overall test metrics beside both random walks, with skill intervals and the always-up base rate,
    then one row per horizon step."""
    if metrics.get("no_edge"):
        title = f"{title} - {NO_EDGE_LABEL} (forecast = last close)"
    table = Table(title=title, show_lines=False)
    table.add_column("step")
    columns = ("RMSE", "naive RMSE", "skill [95% CI]", "drift RMSE", "skill vs drift", "MAE", "MAPE %")
    for col in (
        *columns,
        "dir. acc.",
        "dir. n",
        "always up",
        "cover 80%",
        "pinball",
        "EWMA pinball",
        "lambda",
    ):
        table.add_column(col, justify="right")

    def cells(row: dict[str, Any]) -> list[str]:
        return [
            _fmt(row.get("rmse")),
            _fmt(row.get("naive_rmse")),
            skill_with_interval(row),
            _fmt(row.get("drift_rmse")),
            skill_with_interval(row, "skill_vs_drift"),
            _fmt(row.get("mae")),
            _fmt(row.get("mape"), 2),
            direction_cell(row),
            _fmt(row.get("directional_count")),
            _fmt(row.get("up_rate"), 3),
            _fmt(row.get("interval_coverage"), 3),
            _fmt(row.get("pinball")),
            _fmt(row.get("ewma_pinball")),
        ]

    for row in metrics.get("per_horizon", []):
        table.add_row(f"t+{row.get('step')}", *cells(row), _fmt(row.get("shrinkage"), 2))
    table.add_row("[bold]all[/]", *cells(metrics), "")
    return table


def summary_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for col in (
        "ticker",
        "kind",
        "version",
        "production",
        "test RMSE",
        "naive RMSE",
        "skill [95% CI]",
        "skill vs drift",
        "dir. acc.",
        "always up",
        "epochs",
        "data",
    ):
        table.add_column(col, justify="right" if col not in ("ticker", "kind", "data") else "left")
    for r in rows:
        m = r["metrics"]
        table.add_row(
            r["ticker"],
            r["kind"],
            r["model_version"],
            _fmt(r.get("production_version")),
            _fmt(m.get("rmse")),
            _fmt(m.get("naive_rmse")),
            skill_with_interval(m) + (f" ({NO_EDGE_LABEL})" if m.get("no_edge") else ""),
            skill_with_interval(m, "skill_vs_drift"),
            direction_cell(m),
            _fmt(m.get("up_rate"), 3),
            f"{r['best_epoch']}/{r['epochs_run']}",
            "synthetic" if r["synthetic"] else r["data_source"],
        )
    return table


def forecast_table(payload: dict[str, Any]) -> Table:
    table = Table(
        title=f"{payload['ticker']} forecast from {payload['model_name']} v{payload['model_version']}"
        f" (data as of {payload['as_of']})"
    )
    table.add_column("date")
    table.add_column("forecast close", justify="right")
    table.add_column("low 10%", justify="right")
    table.add_column("high 90%", justify="right")
    table.add_column("naive (last close)", justify="right")
    for point, naive in zip(payload["forecast"], payload["naive"], strict=True):
        table.add_row(
            point["date"],
            f"{point['close']:.2f}",
            _fmt(point.get("low"), 2),
            _fmt(point.get("high"), 2),
            f"{naive['close']:.2f}",
        )
    return table


def _pct(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{100.0 * value:+.{digits}f}%"


def _lambda_range(lambdas: list[float] | None) -> str:
    if not lambdas:
        return "-"
    low, high = min(lambdas), max(lambdas)
    return f"{low:.2f}" if low == high else f"{low:.2f}-{high:.2f}"


def backtest_folds_table(summary: dict[str, Any]) -> Table:
    """One row per walk-forward fold (the days it was tested on and how it did), then
    the folds pooled: skill vs the random walk with its 95 % interval, skill vs the drift walk,
    coverage, direction beside the always-up rate, and the range of the shrinkage lambdas."""
    kind = f"child of {summary['parent']}, parent retrained per fold" if summary.get("parent") else "scratch"
    first, last = summary["per_fold"][0], summary["per_fold"][-1]
    table = Table(
        title=f"{summary['ticker']} walk-forward ({kind}): {summary['folds']} expanding folds from "
        f"{first['data_start']}, each trained on the days before its {summary['fold_windows']} test windows"
    )
    table.add_column("fold")
    table.add_column("tested on (anchors)", no_wrap=True)
    for col in (
        "windows",
        "skill [95% CI]",
        "vs drift",
        "cover 80%",
        "dir. acc.",
        "always up",
        "lambda",
        "epochs",
    ):
        table.add_column(col, justify="right", no_wrap=col == "skill [95% CI]")
    for fold in summary["per_fold"]:
        drift = fold.get("skill_vs_drift")
        table.add_row(
            str(fold["fold"]),
            f"{fold['test_start']}..{fold['test_end']}",
            _fmt(fold.get("n_windows")),
            skill_with_interval(fold),
            "-" if drift is None else f"{drift:+.3f}",
            _fmt(fold.get("interval_coverage"), 3),
            direction_cell(fold),
            _fmt(fold.get("up_rate"), 3),
            _lambda_range(fold.get("lambdas")),
            f"{fold.get('best_epoch')}/{fold.get('epochs_run')}",
        )
    agg = summary["aggregate"]
    pooled = {
        "skill": agg.get("pooled_skill"),
        "skill_ci_low": agg.get("pooled_skill_ci_low"),
        "skill_ci_high": agg.get("pooled_skill_ci_high"),
        "directional_accuracy": agg.get("directional_accuracy"),
        "directional_count": agg.get("directional_count"),
    }
    table.add_row(
        "[bold]all[/]",
        f"{first['test_start']}..{last['test_end']}",
        _fmt(agg.get("n_windows")),
        skill_with_interval(pooled),
        "",
        _fmt(agg.get("interval_coverage"), 3),
        direction_cell(pooled),
        _fmt(agg.get("up_rate"), 3),
        "",
        "",
    )
    return table


def backtest_skill_line(summary: dict[str, Any]) -> str:
    """Median / mean fold skill and how many folds at least matched the random walk."""
    agg = summary["aggregate"]
    skills = [f.get("skill") for f in summary["per_fold"] if f.get("skill") is not None]
    matched = sum(s >= 0.0 for s in skills)

    def signed(value: Any) -> str:
        return "-" if value is None else f"{value:+.4f}"

    return (
        f"fold skill: median {signed(agg.get('median_skill'))}, mean {signed(agg.get('mean_skill'))}, "
        f"range {signed(agg.get('min_skill'))}..{signed(agg.get('max_skill'))}; {matched}/{len(skills)} "
        f"folds with skill >= 0 (not worse than the random walk); vs drift: median "
        f"{signed(agg.get('median_skill_vs_drift'))}"
    )


def backtest_trading_table(summary: dict[str, Any]) -> Table:
    """The long/flat rule on the 1-day forecast sign beside buy-and-hold, over the same days."""
    trading = summary["trading"]
    table = Table(
        title=f"Trading the out-of-sample forecasts {trading['start']}..{trading['end']} "
        f"({trading['strategy']['days']} days, {1e4 * trading['cost']:.1f} bp per unit traded)"
    )
    table.add_column("rule")
    for col in ("annual return", "volatility", "Sharpe", "max drawdown", "turnover / yr", "days long"):
        table.add_column(col, justify="right")
    rows = (
        ("long/flat on forecast sign", trading["strategy"], trading["exposure"]),
        ("buy and hold", trading["buy_hold"], 1.0),
    )
    for name, metrics, exposure in rows:
        sharpe = metrics.get("sharpe")
        table.add_row(
            name,
            _pct(metrics.get("annual_return")),
            _pct(metrics.get("annual_volatility")).lstrip("+"),
            "- (never long)" if sharpe is None and exposure == 0 else _fmt(sharpe, 2),
            _pct(metrics.get("max_drawdown")).lstrip("+"),
            _fmt(metrics.get("turnover"), 1),
            f"{100.0 * exposure:.0f}%",
        )
    return table
