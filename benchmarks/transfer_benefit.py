"""Does starting a child from the ^GSPC parent pay? Child (transferred) vs the same model from scratch.

    .venv/bin/python benchmarks/transfer_benefit.py [--tickers AAPL MSFT TSLA]
        [--strategies fine-tune freeze] [--l2-sp 0.01 0.1] [--pool GOOGL AMZN] [--threads 2] [--quick]
        [--json PATH]

1. Train the parent once: default config (``ModelConfig()`` / ``TrainingConfig()``) on ^GSPC from 2004.
2. For each ticker (from ``--child-start``, default 2010-01-01, or the ticker's first day, e.g. TSLA's
   2010-06-29): train the same network from scratch (same model and training config, same seed), then
   a child from the parent per strategy (``fine-tune``: all layers at 0.1x the learning rate; ``freeze``:
   LSTM fixed, head trained) with the default transfer settings.

``--l2-sp A ...`` adds one fine-tuned child per strength ``A`` with an L2-SP pull toward the parent's
weights (``stockops.model.training.Anchor``). ``--pool T ...`` trains a second parent whose training
part also holds those tickers' windows up to the parent's own cut-off (``stockops.model.pooling``) and
fine-tunes one more child per ticker from it; pooled tickers must not be children.

Prints per ticker: the validation loss of two forecasts that learned nothing (the random walk, i.e. a
zero scaled return, and the train part's drift), so "reaches the scratch model's best loss" is read
against them: a scratch best at or above the random walk's loss means there was nothing to reach.
Then the from-scratch best validation loss and the epoch/seconds it took to get there; for
each child the first epoch (and seconds) at which its validation loss reached that value, or "never";
both test RMSEs and skills against the random walk. The issue's goal: children reach the from-scratch
best validation loss in at most half the epochs the from-scratch model needed.

Why the validation losses are comparable: they are MSEs of *scaled* targets, so they mean the same thing
only under the same target scaler. ``run_experiment`` (stockops/model/experiment.py) fits the feature and
target scalers on the train split of the frame it is given, for a parent-seeded child exactly as for a
fresh model ("the parent contributes weights, never statistics of another ticker's prices"); the split
depends only on the number of windows and the val/test fractions. Child and from-scratch runs get the
same frame and the same fractions, so they fit identical scalers on identical train windows and score
the same validation windows. The script checks that (scaler arrays equal, same split) instead of trusting
it, and stops if it ever stops being true.
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

import bench_data as bd
import numpy as np

from stockops.model.config import ModelConfig, TrainingConfig, TransferConfig, TransferStrategy
from stockops.model.experiment import ExperimentResult

DEFAULT_TICKERS = ("AAPL", "MSFT", "TSLA")
DEFAULT_CHILD_START = date(2010, 1, 1)
STRATEGIES: tuple[TransferStrategy, ...] = ("fine-tune", "freeze")
GOAL_FRACTION = 0.5


def check_comparable(scratch: ExperimentResult, child: ExperimentResult) -> None:
    """Validation losses compare only under the same target scaler and the same validation windows."""
    same_split = scratch.split == child.split
    a, b = scratch.bundle, child.bundle
    same_scalers = all(
        np.array_equal(x, y)
        for x, y in (
            (a.target_scaler.mean, b.target_scaler.mean),
            (a.target_scaler.scale, b.target_scaler.scale),
            (a.feature_scaler.mean, b.feature_scaler.mean),
            (a.feature_scaler.scale, b.feature_scaler.scale),
        )
    )
    if not (same_split and same_scalers):
        raise SystemExit(
            f"{a.ticker}: child and from-scratch runs used different splits ({same_split=}) or scalers "
            f"({same_scalers=}); their validation losses are not comparable"
        )


def compare(scratch: ExperimentResult, child: ExperimentResult) -> dict[str, Any]:
    """The child's race to the from-scratch best validation loss."""
    target = scratch.fit.best_val_loss
    reached = bd.first_epoch_reaching(child.fit.history, target)
    needed = scratch.fit.best_epoch
    return {
        "reached_epoch": reached,
        "reached_seconds": bd.seconds_through(child.fit.history, reached) if reached else None,
        "epoch_ratio": reached / needed if reached else None,
        "goal_met": reached is not None and reached <= GOAL_FRACTION * needed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bd.add_common_arguments(parser)
    parser.add_argument("--tickers", nargs="+", default=list(DEFAULT_TICKERS), help="child tickers")
    parser.add_argument(
        "--strategies",
        nargs="+",
        choices=STRATEGIES,
        default=["fine-tune"],
        help="transfer strategies to compare with from-scratch (default fine-tune)",
    )
    parser.add_argument(
        "--child-start",
        type=date.fromisoformat,
        default=None,
        help=f"first day of child data (default {DEFAULT_CHILD_START}; {bd.QUICK_CHILD_START} with --quick)",
    )
    parser.add_argument(
        "--l2-sp",
        nargs="*",
        type=float,
        default=[],
        metavar="ALPHA",
        help="also fine-tune with an L2-SP pull toward the parent of each strength ALPHA > 0",
    )
    parser.add_argument(
        "--pool",
        nargs="*",
        default=[],
        metavar="TICKER",
        help="also train a second parent pooled over these tickers (never one of --tickers) and "
        "fine-tune children from it",
    )
    args = parser.parse_args(argv)
    if overlap := sorted(set(args.pool) & set(args.tickers)):
        parser.error(f"--pool must not contain a child ticker ({overlap}): the parent would see its history")
    bd.configure_torch(args.threads)

    parent_start = bd.QUICK_PARENT_START if args.quick else bd.PARENT_START
    child_start = args.child_start or (bd.QUICK_CHILD_START if args.quick else DEFAULT_CHILD_START)
    model_cfg = ModelConfig()
    train_cfg = TrainingConfig(num_threads=args.threads)
    if args.quick:
        train_cfg = train_cfg.model_copy(update={"epochs": bd.QUICK_EPOCHS})
    transfers = {strategy: TransferConfig(strategy=strategy) for strategy in args.strategies}
    for alpha in args.l2_sp:
        transfers[f"fine-tune l2sp={alpha:g}"] = TransferConfig(strategy="fine-tune", l2_sp=alpha)

    env_before = bd.environment()
    print(bd.describe_config("parent and from-scratch children", model_cfg, train_cfg))
    for strategy, transfer in transfers.items():
        effective = transfer.effective_learning_rate(train_cfg.learning_rate)
        epochs = transfer.epochs or train_cfg.epochs
        print(
            f"transfer {strategy}: "
            + " ".join(f"{k}={v}" for k, v in transfer.model_dump().items())
            + f" -> learning_rate={effective:g} epochs={epochs}"
        )
    print(f"device {args.device}, torch threads {args.threads}; before: {bd.load_line()}")

    parent_data = bd.load_ticker(args.data_dir, bd.PARENT_TICKER, parent_start)
    print(f"parent data: {parent_data.ticker} {parent_data.first_day}..{parent_data.last_day}", flush=True)
    parent = bd.train(
        parent_data, "parent ^GSPC", model_cfg=model_cfg, train_cfg=train_cfg, device=args.device
    )
    p = bd.result_summary(parent)
    print(
        f"parent: best epoch {p['best_epoch']}/{p['epochs_run']}, {p['fit_seconds']:.1f}s, "
        f"test RMSE {p['rmse']:.2f} (naive {p['naive_rmse']:.2f}), skill {bd.fmt(p['skill'])}",
        flush=True,
    )

    pooled_parent = None
    if args.pool:
        pool_data = [bd.load_ticker(args.data_dir, t, parent_start) for t in args.pool]
        pooled_parent = bd.train(
            parent_data,
            f"parent ^GSPC pooled over {' '.join(args.pool)}",
            model_cfg=model_cfg,
            train_cfg=train_cfg,
            device=args.device,
            pool=pool_data,
        )
        pp = bd.result_summary(pooled_parent)
        print(
            f"pooled parent (+{' '.join(args.pool)}): best epoch {pp['best_epoch']}/{pp['epochs_run']}, "
            f"{pp['fit_seconds']:.1f}s, test RMSE {pp['rmse']:.2f}, skill {bd.fmt(pp['skill'])}",
            flush=True,
        )
    variants = [(name, transfer, parent) for name, transfer in transfers.items()]
    if pooled_parent is not None:
        variants.append(("fine-tune pooled parent", TransferConfig(strategy="fine-tune"), pooled_parent))

    rows: list[list[str]] = []
    results: list[dict[str, Any]] = []
    for ticker in args.tickers:
        data = bd.load_ticker(args.data_dir, ticker, child_start)
        scratch = bd.train(
            data, f"{ticker} scratch", model_cfg=model_cfg, train_cfg=train_cfg, device=args.device
        )
        s = bd.result_summary(scratch)
        entry: dict[str, Any] = {
            "ticker": data.ticker,
            "first_day": str(data.first_day),
            "last_day": str(data.last_day),
            "scratch": s,
            "children": {},
        }
        refs = s["reference_val_losses"] or {}
        for name in ("random_walk", "drift"):
            if name in refs:
                rows.append(
                    [data.ticker, f"{name.replace('_', ' ')} (learned nothing)", f"{refs[name]:.4f}"]
                    + ["-"] * 7
                )
        rows.append(
            [
                data.ticker,
                "scratch",
                f"{s['best_val_loss']:.4f}",
                f"{s['best_epoch']}/{s['epochs_run']}",
                f"{s['seconds_to_best']:.1f}",
                "-",
                bd.fmt(s["rmse"], 2),
                bd.fmt(s["naive_rmse"], 2),
                bd.fmt(s["skill"]),
                "",
            ]
        )
        for strategy, transfer, source_parent in variants:
            child = bd.train(
                data,
                f"{ticker} {strategy}",
                model_cfg=model_cfg,
                train_cfg=train_cfg,
                device=args.device,
                parent=source_parent.bundle,
                transfer=transfer,
            )
            check_comparable(scratch, child)
            c = {**bd.result_summary(child), **compare(scratch, child)}
            entry["children"][strategy] = c
            reached = c["reached_epoch"]
            rows.append(
                [
                    "",
                    strategy,
                    f"{c['best_val_loss']:.4f}",
                    f"{c['best_epoch']}/{c['epochs_run']}",
                    f"{c['seconds_to_best']:.1f}",
                    f"ep {reached}, {c['reached_seconds']:.1f}s" if reached else "never",
                    bd.fmt(c["rmse"], 2),
                    bd.fmt(c["naive_rmse"], 2),
                    bd.fmt(c["skill"]),
                    "yes" if c["goal_met"] else "no",
                ]
            )
        results.append(entry)

    headers = [
        "ticker",
        "model",
        "best val",
        "best ep/run",
        "s to best",
        "reached scratch best",
        "test RMSE",
        "naive",
        "skill",
        "goal",
    ]
    print()
    print(
        f"parent ^GSPC {parent_data.first_day}..{parent_data.last_day}: best epoch {p['best_epoch']}, "
        f"{p['fit_seconds']:.1f}s, test RMSE {p['rmse']:.2f}, naive {p['naive_rmse']:.2f}, "
        f"skill {bd.fmt(p['skill'])}"
    )
    print(f"children from {child_start} (or the ticker's first day); val loss = MSE of scaled targets")
    print(bd.format_table(headers, rows))
    verdicts = [c["goal_met"] for e in results for c in e["children"].values()]
    met = sum(verdicts)
    # reaching a scratch best that is no better than a forecast that learned nothing proves nothing
    vacuous = [
        e["ticker"]
        for e in results
        if (refs := e["scratch"].get("reference_val_losses"))
        and e["scratch"]["best_val_loss"] >= min(refs.values())
    ]
    caveat = " (quick run: not the issue's setup)" if args.quick else ""
    print()
    print(
        f"goal (child reaches scratch best val loss in <= {GOAL_FRACTION:.0%} of scratch's epochs): "
        f"{'MET' if verdicts and all(verdicts) else 'NOT MET'} (met by {met} of {len(verdicts)} children)"
        f"{caveat}"
    )
    if vacuous:
        print(
            f"vacuous for {', '.join(vacuous)}: the scratch model's best validation loss is not below the "
            "random walk's or the drift's, so reaching it shows no learned benefit"
        )
    print(f"after: {bd.load_line()}")

    if args.json:
        bd.write_json(
            args.json,
            {
                "benchmark": "transfer_benefit",
                "quick": args.quick,
                "device": args.device,
                "threads": args.threads,
                "config": bd.config_dict(model_cfg, train_cfg),
                "transfers": {k: v.model_dump() for k, v in transfers.items()},
                "parent": {
                    "ticker": parent_data.ticker,
                    "first_day": str(parent_data.first_day),
                    "last_day": str(parent_data.last_day),
                    **p,
                },
                "child_start": str(child_start),
                "tickers": results,
                "goal_met": bool(verdicts) and all(verdicts),
                "goal_vacuous_for": vacuous,
                "environment_before": env_before,
                "environment_after": bd.environment(),
            },
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
