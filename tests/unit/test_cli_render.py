"""CLI tables show skill with its interval, both walks, the base rate and the no-edge label."""

from __future__ import annotations

from rich.console import Console

from stockops.cli.render import metrics_table, skill_with_interval

METRICS = {
    "rmse": 2.0,
    "naive_rmse": 2.0,
    "skill": 0.0,
    "skill_ci_low": 0.0,
    "skill_ci_high": 0.0,
    "drift_rmse": 2.1,
    "skill_vs_drift": 0.0476,
    "up_rate": 0.55,
    "directional_accuracy": None,
    "directional_count": 0,
    "no_edge": True,
    "per_horizon": [
        {"step": 1, "rmse": 2.0, "skill": 0.0, "skill_ci_low": 0.0, "skill_ci_high": 0.0, "shrinkage": 0.0}
    ],
}


def _text(table) -> str:
    console = Console(width=220, record=True)
    console.print(table)
    return console.export_text()


def test_skill_is_printed_with_its_interval() -> None:
    assert skill_with_interval({"skill": 0.0123, "skill_ci_low": -0.004, "skill_ci_high": 0.027}) == (
        "+0.012 [-0.004, +0.027]"
    )
    assert skill_with_interval({"skill": None}) == "-"


def test_metrics_table_labels_a_no_edge_model_and_shows_the_base_rate() -> None:
    text = _text(metrics_table(METRICS, "AAPL v3: test split"))
    assert "no edge over the random walk" in text
    assert "+0.000 [+0.000, +0.000]" in text and "always up" in text and "0.550" in text
    assert "no direction" in text


def test_direction_cell_says_no_direction_only_when_nothing_was_scored() -> None:
    from stockops.cli.render import direction_cell

    assert direction_cell({"directional_accuracy": None, "directional_count": 0}) == "no direction"
    assert direction_cell({"directional_accuracy": 0.5123, "directional_count": 40}) == "0.512"
    assert direction_cell({}) == "-"
