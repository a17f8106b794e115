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


def metrics_table(metrics: dict[str, Any], title: str) -> Table:
    """Overall test metrics beside the random-walk baseline, then one row per horizon step."""
    table = Table(title=title, show_lines=False)
    table.add_column("step")
    for col in ("RMSE", "naive RMSE", "skill", "MAE", "MAPE %", "dir. acc."):
        table.add_column(col, justify="right")
    for row in metrics.get("per_horizon", []):
        table.add_row(
            f"t+{row.get('step')}",
            _fmt(row.get("rmse")),
            _fmt(row.get("naive_rmse")),
            _fmt(row.get("skill"), 3),
            _fmt(row.get("mae")),
            _fmt(row.get("mape"), 2),
            _fmt(row.get("directional_accuracy"), 3),
        )
    table.add_row(
        "[bold]all[/]",
        _fmt(metrics.get("rmse")),
        _fmt(metrics.get("naive_rmse")),
        _fmt(metrics.get("skill"), 3),
        _fmt(metrics.get("mae")),
        _fmt(metrics.get("mape"), 2),
        _fmt(metrics.get("directional_accuracy"), 3),
    )
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
        "skill",
        "dir. acc.",
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
            _fmt(m.get("skill"), 3),
            _fmt(m.get("directional_accuracy"), 3),
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
    table.add_column("naive (last close)", justify="right")
    for point, naive in zip(payload["forecast"], payload["naive"], strict=True):
        table.add_row(point["date"], f"{point['close']:.2f}", f"{naive['close']:.2f}")
    return table
