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
