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


def _backtest() -> dict:
    fold = {
        "data_start": "2010-01-04", "val_end": "2017-12-20", "n_windows": 500, "skill": 0.004,
        "skill_ci_low": -0.002, "skill_ci_high": 0.011, "skill_vs_drift": -0.001, "interval_coverage": 0.79,
        "directional_accuracy": 0.52, "directional_count": 900, "up_rate": 0.55, "lambdas": [0.2, 0.0],
        "best_epoch": 3, "epochs_run": 8,
    }  # fmt: skip
    flat = {"annual_return": 0.0, "annual_volatility": 0.0, "sharpe": None, "max_drawdown": 0.0,
            "turnover": 0.0, "days": 1000}  # fmt: skip
    held = {"annual_return": 0.101, "annual_volatility": 0.18, "sharpe": 0.62, "max_drawdown": -0.34,
            "turnover": 0.25, "days": 1000}  # fmt: skip
    return {
        "ticker": "^GSPC", "parent": None, "folds": 2, "fold_windows": 500,
        "per_fold": [
            {**fold, "fold": 1, "test_start": "2018-01-02", "test_end": "2019-12-27"},
            {**fold, "fold": 2, "test_start": "2019-12-30", "test_end": "2021-12-22", "skill": -0.01},
        ],
        "aggregate": {"median_skill": -0.003, "mean_skill": -0.003, "min_skill": -0.01, "max_skill": 0.004,
                      "median_skill_vs_drift": -0.001, "pooled_skill": -0.002, "pooled_skill_ci_low": -0.008,
                      "pooled_skill_ci_high": 0.004, "interval_coverage": 0.8, "directional_accuracy": 0.52,
                      "directional_count": 1800, "up_rate": 0.55, "n_windows": 1000},
        "trading": {"cost": 0.0005, "start": "2018-01-02", "end": "2021-12-22", "exposure": 0.0,
                    "strategy": flat, "buy_hold": held},
    }  # fmt: skip


def test_backtest_tables_show_each_fold_the_pooled_skill_and_both_rules() -> None:
    from stockops.cli.render import backtest_folds_table, backtest_skill_line, backtest_trading_table

    summary = _backtest()
    folds = _text(backtest_folds_table(summary))
    assert "2018-01-02..2019-12-27" in folds and "2018-01-02..2021-12-22" in folds  # per fold, then all
    assert "+0.004 [-0.002, +0.011]" in folds and "-0.002 [-0.008, +0.004]" in folds
    assert "0.00-0.20" in folds  # the lambdas' range
    assert "1/2 folds with skill >= 0" in backtest_skill_line(summary)
    trading = _text(backtest_trading_table(summary))
    assert "never long" in trading and "0.62" in trading and "-34.0%" in trading and "+10.1%" in trading
    assert "5.0 bp" in trading
