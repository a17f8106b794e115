"""Forecast skill per ticker on the test split, for every CSV in the data directory.

    .venv/bin/python benchmarks/forecast_skill.py [--transfer [--strategy fine-tune|freeze]]
        [--start 2004-01-01] [--threads 2] [--quick] [--json PATH]

Each ``<TICKER>.csv`` (``GSPC.csv`` is ^GSPC) is trained with the default config (``ModelConfig()`` /
``TrainingConfig()``) from ``--start`` or the ticker's first day, and evaluated on its own test split
(the most recent 15 % of windows, never seen in training or early stopping). With ``--transfer`` the
^GSPC parent is trained first and every other ticker is a child of it (default transfer settings).

Prints per ticker: test period, test RMSE and the random walk's RMSE (last close carried forward) in
price units, skill = 1 - RMSE/naive RMSE (> 0 beats the random walk) with its 95 % block-bootstrap
interval, skill against the random walk with the training drift (with interval), directional accuracy
(share of (window, step) pairs whose predicted move from the last close had the sign of the real one)
beside the always-up base rate, and the shrinkage lambdas fitted on validation (0 = random walk).
Interval coverage and the walk-forward summary are not printed yet (no interval head, no backtest).
"""

from __future__ import annotations

import argparse
import statistics
from datetime import date
from typing import Any

import bench_data as bd

from stockops.model.bundle import ModelBundle
from stockops.model.config import ModelConfig, TrainingConfig, TransferConfig


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
    args = parser.parse_args(argv)
    bd.configure_torch(args.threads)

    files = sorted(args.data_dir.glob("*.csv"))
    if not files:
        raise SystemExit(f"no *.csv files in {args.data_dir}; pass --data-dir")
    tickers = [bd.ticker_for_csv(path) for path in files]
    if args.transfer and bd.PARENT_TICKER not in tickers:
        raise SystemExit(f"--transfer needs the parent's file {bd.PARENT_TICKER} in {args.data_dir}")
    if args.transfer:  # the parent first: every child needs its weights
        tickers.remove(bd.PARENT_TICKER)
        tickers.insert(0, bd.PARENT_TICKER)

    start = args.start or (bd.QUICK_PARENT_START if args.quick else bd.PARENT_START)
    model_cfg = ModelConfig()
    train_cfg = TrainingConfig(num_threads=args.threads)
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
    rows: list[list[str]] = []
    results: list[dict[str, Any]] = []
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
            parent = result.bundle
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
                "/".join(f"{v:.2f}" for v in s["shrinkage"] or []),
                f"{s['fit_seconds']:.0f}",
            ]
        )

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
                "tickers": results,
                "environment_before": env_before,
                "environment_after": bd.environment(),
            },
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
