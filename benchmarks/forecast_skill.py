"""Forecast skill per ticker on the test split, for every CSV in the data directory.

    .venv/bin/python benchmarks/forecast_skill.py [--transfer [--strategy fine-tune|freeze]]
        [--start 2004-01-01] [--folds 3] [--members 1] [--tickers T ...] [--threads 2] [--quick]
        [--json PATH]

Each ``<TICKER>.csv`` (``GSPC.csv`` is ^GSPC) is trained with the default config (``ModelConfig()`` /
``TrainingConfig()``) from ``--start`` or the ticker's first day, and evaluated on its own test split
(the most recent 15 % of windows, never seen in training or early stopping). With ``--transfer`` the
^GSPC parent is trained first and every other ticker is a child of it (default transfer settings).

Prints per ticker: test period, test RMSE and the random walk's RMSE (last close carried forward) in
price units, skill = 1 - RMSE/naive RMSE (> 0 beats the random walk) with its 95 % block-bootstrap
interval, skill against the random walk with the training drift (with interval), directional accuracy
(share of (window, step) pairs whose predicted move from the last close had the sign of the real one)
beside the always-up base rate, coverage of the 10-90 % interval (nominal 0.80) and the shrinkage
lambdas fitted on validation (0 = random walk).

Then the walk-forward backtest of every ticker (``--folds``, default 3; 0 skips it): the same config
trained once per expanding-window fold (:mod:`stockops.model.walk_forward`; a child's folds transfer
from a parent retrained per fold), each scored on its own block of the history's second half. Per
ticker: median and mean fold skill, folds with skill >= 0, the pooled out-of-sample skill with its 95 %
interval, pooled coverage and direction beside always-up, and long/flat on the 1-day forecast sign
(5 bp per trade) beside buy-and-hold: Sharpe, annual return, max drawdown, turnover. It costs
``folds`` extra trainings per ticker (twice that for children).

``--members N`` trains every model as a seed ensemble of N networks (the "fit s" column shows the cost);
run it beside ``--members 1`` to see whether an ensemble pays.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from datetime import date
from typing import Any

import bench_data as bd

from stockops.data.features import FEATURE_SET_VERSION, MODEL_FEATURES
from stockops.model.bundle import ModelBundle
from stockops.model.config import ModelConfig, TrainingConfig, TransferConfig
from stockops.model.walk_forward import (
    ParentTraining,
    WalkForwardConfig,
    WalkForwardSummary,
    run_walk_forward,
)


def _with_ci(value: float | None, ci: list[float | None]) -> str:
    if value is None:
        return "-"
    if ci[0] is None or ci[1] is None:
        return f"{value:+.4f}"
    return f"{value:+.4f} [{ci[0]:+.4f}, {ci[1]:+.4f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bd.add_common_arguments(parser)
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=None,
        help=f"first day of data (default {bd.PARENT_START}; {bd.QUICK_PARENT_START} with --quick)",
    )
    parser.add_argument(
        "--transfer", action="store_true", help="train every non-parent ticker as a child of ^GSPC"
    )
    parser.add_argument("--strategy", choices=("fine-tune", "freeze"), default="fine-tune")
    parser.add_argument(
        "--folds",
        type=int,
        default=3,
        help="walk-forward folds per ticker (2..10; 0 skips the backtest; default 3)",
    )
    parser.add_argument(
        "--members",
        type=int,
        default=1,
        help="seed-ensemble members per model (TrainingConfig.ensemble_members; default 1)",
    )
    parser.add_argument(
        "--tickers", nargs="+", default=None, help="only these tickers' CSVs (default: every CSV)"
    )
    args = parser.parse_args(argv)
    if args.folds != 0 and not 2 <= args.folds <= 10:
        raise SystemExit(f"--folds must be 0 or 2..10, got {args.folds}")
    bd.configure_torch(args.threads)

    files = sorted(args.data_dir.glob("*.csv"))
    if not files:
        raise SystemExit(f"no *.csv files in {args.data_dir}; pass --data-dir")
    tickers = [bd.ticker_for_csv(path) for path in files]
    if args.tickers:
        unknown = sorted(set(args.tickers) - set(tickers))
        if unknown:
            raise SystemExit(f"no CSV for {unknown} in {args.data_dir}")
        tickers = [t for t in tickers if t in args.tickers]
    if args.transfer and bd.PARENT_TICKER not in tickers:
        raise SystemExit(f"--transfer needs the parent's file {bd.PARENT_TICKER} in {args.data_dir}")
    if args.transfer:  # the parent first: every child needs its weights
        tickers.remove(bd.PARENT_TICKER)
        tickers.insert(0, bd.PARENT_TICKER)

    start = args.start or (bd.QUICK_PARENT_START if args.quick else bd.PARENT_START)
    model_cfg = ModelConfig()
    train_cfg = TrainingConfig(num_threads=args.threads, ensemble_members=args.members)
    if args.quick:
        train_cfg = train_cfg.model_copy(update={"epochs": bd.QUICK_EPOCHS})
    transfer = TransferConfig(strategy=args.strategy) if args.transfer else None

    env_before = bd.environment()
    print(
        bd.describe_config("config (every ticker; children use the transfer settings)", model_cfg, train_cfg)
    )
    if transfer is not None:
        print(
            "transfer "
            + " ".join(f"{k}={v}" for k, v in transfer.model_dump().items())
            + f" -> learning_rate={transfer.effective_learning_rate(train_cfg.learning_rate):g}"
        )
    print(f"data {args.data_dir}, from {start}; device {args.device}, torch threads {args.threads}")
    print(f"before: {bd.load_line()}", flush=True)

    parent: ModelBundle | None = None
    parent_data: bd.TickerData | None = None
    rows: list[list[str]] = []
    results: list[dict[str, Any]] = []
    backtests: list[WalkForwardSummary] = []
    for ticker in tickers:
        data = bd.load_ticker(args.data_dir, ticker, start)
        is_child = transfer is not None and ticker != bd.PARENT_TICKER
        label = data.ticker if not is_child or parent is None else f"{data.ticker} <- {parent.ticker}"
        result = bd.train(
            data,
            label,
            model_cfg=model_cfg,
            train_cfg=train_cfg,
            device=args.device,
            parent=parent if is_child else None,
            transfer=transfer if is_child else None,
        )
        if transfer is not None and ticker == bd.PARENT_TICKER:
            parent, parent_data = result.bundle, data
        s = bd.result_summary(result)
        kind = f"child ({args.strategy})" if is_child else "scratch"
        results.append({"ticker": data.ticker, "kind": kind, "first_day": str(data.first_day), **s})
        rows.append(
            [
                data.ticker,
                kind,
                f"{data.first_day}",
                f"{s['test_period'][0]}..{s['test_period'][1]}",
                str(s["test_windows"]),
                f"{s['best_epoch']}/{s['epochs_run']}",
                bd.fmt(s["rmse"], 2),
                bd.fmt(s["naive_rmse"], 2),
                _with_ci(s["skill"], s["skill_ci"]),
                _with_ci(s["skill_vs_drift"], s["skill_vs_drift_ci"]),
                bd.fmt(s["directional_accuracy"], 3),
                bd.fmt(s["up_rate"], 3),
                bd.fmt(result.report.interval_coverage, 3),
                "/".join(f"{v:.2f}" for v in s["shrinkage"] or []),
                f"{s['fit_seconds']:.0f}",
            ]
        )
        results[-1]["interval_coverage"] = result.report.interval_coverage
        if args.folds:
            backtest = _walk_forward(
                data,
                model_cfg,
                train_cfg,
                WalkForwardConfig(folds=args.folds),
                device=args.device,
                parent=ParentTraining(
                    ticker=parent.ticker,
                    features=parent_data.features,
                    model_cfg=parent.model_config,
                    train_cfg=train_cfg,
                    transfer=transfer,
                    synthetic=parent.synthetic,
                )
                if is_child and parent is not None and parent_data is not None and transfer is not None
                else None,
            )
            backtests.append(backtest)
            results[-1]["walk_forward"] = backtest.model_dump(mode="json")

    headers = [
        "ticker",
        "model",
        "data from",
        "test period (anchors)",
        "windows",
        "best/run",
        "test RMSE",
        "naive RMSE",
        "skill [95% CI]",
        "skill vs drift [95% CI]",
        "dir acc",
        "always up",
        "cover 80%",
        "lambda",
        "fit s",
    ]
    print()
    print(bd.format_table(headers, rows))
    beats = sum(1 for r in results if r["skill"] is not None and r["skill"] > 0)
    negative = sum(1 for r in results if r["skill"] is not None and r["skill"] < 0)
    significant = sum(1 for r in results if r["skill_ci"][0] is not None and r["skill_ci"][0] > 0)
    median = statistics.median(r["skill"] for r in results if r["skill"] is not None)
    caveat = " (quick run: not the issue's setup)" if args.quick else ""
    print(f"\n{beats}/{len(results)} tickers beat the random walk on their test split{caveat}")
    print(
        f"{significant} with the whole 95% interval above 0; "
        f"{negative} below 0 (the default gate refuses those)"
    )
    print(f"median skill {median:+.4f}")
    if backtests:
        print(f"\nwalk-forward, {args.folds} expanding folds over the second half of each history{caveat}")
        print(_walk_forward_table(backtests))
        matched = sum(1 for b in backtests if (b.aggregate.median_skill or 0.0) >= 0.0)
        print(f"{matched}/{len(backtests)} tickers with median fold skill >= 0")
    print(f"after: {bd.load_line()}")

    if args.json:
        bd.write_json(
            args.json,
            {
                "benchmark": "forecast_skill",
                "quick": args.quick,
                "start": str(start),
                "device": args.device,
                "threads": args.threads,
                "config": bd.config_dict(model_cfg, train_cfg, transfer),
                "walk_forward_folds": args.folds,
                "tickers": results,
                "environment_before": env_before,
                "environment_after": bd.environment(),
            },
        )
    return 0


def _walk_forward(
    data: bd.TickerData,
    model_cfg: ModelConfig,
    train_cfg: TrainingConfig,
    config: WalkForwardConfig,
    *,
    device: str,
    parent: ParentTraining | None,
) -> WalkForwardSummary:
    """The ticker's walk-forward with the benchmark's config (a child's model config is its parent's)."""
    label = data.ticker if parent is None else f"{data.ticker} <- {parent.ticker}"
    print(f"walk-forward {label}, {config.folds} folds ... ({bd.load_line()})", file=sys.stderr, flush=True)

    def fold_done(fold: Any) -> None:
        skill = "n/a" if fold.skill is None else f"{fold.skill:+.4f}"
        print(
            f"  [{label}] fold {fold.fold}: {fold.test_start}..{fold.test_end} skill {skill}", file=sys.stderr
        )

    return run_walk_forward(
        data.features,
        ticker=data.ticker,
        feature_columns=MODEL_FEATURES,
        model_cfg=parent.model_cfg if parent is not None else model_cfg,
        train_cfg=train_cfg,
        config=config,
        synthetic=data.synthetic or (parent is not None and parent.synthetic),
        feature_version=FEATURE_SET_VERSION,
        parent=parent,
        device=device,
        on_fold=fold_done,
    )


def _walk_forward_table(backtests: list[WalkForwardSummary]) -> str:
    headers = [
        "ticker",
        "model",
        "test period (anchors)",
        "windows/fold",
        "median skill",
        "mean skill",
        "folds >= 0",
        "pooled skill [95% CI]",
        "cover 80%",
        "dir acc",
        "always up",
        "Sharpe",
        "B&H Sharpe",
        "ann. ret",
        "B&H ann. ret",
        "max DD",
        "B&H max DD",
        "turnover",
    ]
    rows = []
    for b in backtests:
        a, t = b.aggregate, b.trading
        positive = sum(1 for f in b.per_fold if f.skill is not None and f.skill >= 0.0)
        rows.append(
            [
                b.ticker,
                f"child of {b.parent}" if b.parent else "scratch",
                f"{b.per_fold[0].test_start}..{b.per_fold[-1].test_end}",
                str(b.fold_windows),
                _with_ci(a.median_skill, [None, None]),
                _with_ci(a.mean_skill, [None, None]),
                f"{positive}/{len(b.per_fold)}",
                _with_ci(a.pooled_skill, [a.pooled_skill_ci_low, a.pooled_skill_ci_high]),
                bd.fmt(a.interval_coverage, 3),
                bd.fmt(a.directional_accuracy, 3),
                bd.fmt(a.up_rate, 3),
                bd.fmt(t.strategy.sharpe, 2),
                bd.fmt(t.buy_hold.sharpe, 2),
                f"{100 * t.strategy.annual_return:+.1f}%",
                f"{100 * t.buy_hold.annual_return:+.1f}%",
                f"{100 * t.strategy.max_drawdown:.1f}%",
                f"{100 * t.buy_hold.max_drawdown:.1f}%",
                f"{t.strategy.turnover:.1f}",
            ]
        )
    return bd.format_table(headers, rows)


if __name__ == "__main__":
    raise SystemExit(main())
