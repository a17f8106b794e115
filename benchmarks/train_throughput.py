"""Training throughput and time-to-best of the default parent vs a common reference setup, on ^GSPC.

    .venv/bin/python benchmarks/train_throughput.py [--threads 2] [--quick] [--json PATH]

Trains twice on ^GSPC from 2004-01-01 (chronological 70/15/15 split, scalers fitted on train only):

* the default parent: ``ModelConfig()`` + ``TrainingConfig()`` (2x64 LSTM, batch 256, up to 30 epochs,
  early stopping with patience 5, best-validation weights restored);
* the reference: a 3-layer 128-unit LSTM at batch 32, same context/horizon (60/5), 20 epochs and no early
  stopping cut (patience = epochs); best-validation weights are still restored before testing, which
  only helps the reference. Everything else (optimiser, learning rate, schedule, dropout, clipping,
  seed, features, target) is the same, so the comparison isolates shape and batch size.

Prints windows/s (training windows per wall second, validation pass included in an epoch's cost) and
seconds/epoch for both, and the whole fit of each: every epoch it ran, for the default including the
``patience`` epochs after its best one (without them early stopping could not know the best one was
best), for the reference its 20 epochs. The speed ratio compares those like with like; the default's
seconds to its best checkpoint are printed beside, not used for the verdict. Also both test RMSEs and
skills against the random walk, and whether the goal holds: the default's whole fit is >= 3x faster
than the reference's, with equal or better test RMSE.

Timings depend on the machine and on what else runs on it: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
from typing import Any

import bench_data as bd

from stockops.model.config import ModelConfig, TrainingConfig

GOAL_SPEEDUP = 3.0
REFERENCE_EPOCHS = 20


def reference_configs(epochs: int, threads: int) -> tuple[ModelConfig, TrainingConfig]:
    model = ModelConfig(hidden_size=128, num_layers=3)
    # patience >= epochs: the reference always runs its full budget, as the public setup does.
    training = TrainingConfig(epochs=epochs, batch_size=32, patience=epochs, num_threads=threads)
    return model, training


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bd.add_common_arguments(parser)
    parser.add_argument(
        "--reference-epochs",
        type=int,
        default=None,
        help=f"epochs of the reference (default {REFERENCE_EPOCHS}; {bd.QUICK_EPOCHS} with --quick)",
    )
    args = parser.parse_args(argv)
    bd.configure_torch(args.threads)

    start = bd.QUICK_PARENT_START if args.quick else bd.PARENT_START
    ref_epochs = args.reference_epochs or (bd.QUICK_EPOCHS if args.quick else REFERENCE_EPOCHS)
    default_model = ModelConfig()
    default_training = TrainingConfig(num_threads=args.threads)
    if args.quick:
        default_training = default_training.model_copy(update={"epochs": bd.QUICK_EPOCHS})
    ref_model, ref_training = reference_configs(ref_epochs, args.threads)

    env_before = bd.environment()
    data = bd.load_ticker(args.data_dir, bd.PARENT_TICKER, start)
    print(f"data: {data.ticker} {data.first_day}..{data.last_day} ({len(data.features)} feature rows)")
    print(f"      source {data.source}; requested start {start}")
    print(bd.describe_config("default parent", default_model, default_training))
    print(bd.describe_config("reference", ref_model, ref_training))
    print(f"device {args.device}, torch threads {args.threads}; before: {bd.load_line()}")
    print(flush=True)

    device = args.device
    default = bd.train(data, "default", model_cfg=default_model, train_cfg=default_training, device=device)
    reference = bd.train(data, "reference", model_cfg=ref_model, train_cfg=ref_training, device=args.device)
    env_after = bd.environment()

    d, r = bd.result_summary(default), bd.result_summary(reference)
    reference_seconds = bd.seconds_through(reference.fit.history, reference.fit.epochs_run)
    default_seconds = bd.seconds_through(default.fit.history, default.fit.epochs_run)  # patience included
    speedup = reference_seconds / default_seconds if default_seconds > 0 else float("nan")
    rmse_ok = d["rmse"] <= r["rmse"]
    goal_met = speedup >= GOAL_SPEEDUP and rmse_ok
    # The same ratio from median epoch times (epochs x median), less sensitive to other load.
    median_speedup = (r["epochs_run"] * r["median_seconds_per_epoch"]) / (
        d["epochs_run"] * d["median_seconds_per_epoch"]
    )

    rows = [
        [
            "default 2x64 b256",
            str(d["train_windows"]),
            f"{d['windows_per_second']:.0f}",
            f"{d['seconds_per_epoch']:.2f}",
            f"{d['median_seconds_per_epoch']:.2f}",
            f"{d['epochs_run']} (best {d['best_epoch']})",
            f"{default_seconds:.1f} (all {d['epochs_run']}; best at {d['seconds_to_best']:.1f})",
            bd.fmt(d["rmse"], 2),
            bd.fmt(d["naive_rmse"], 2),
            bd.fmt(d["skill"]),
        ],
        [
            "reference 3x128 b32",
            str(r["train_windows"]),
            f"{r['windows_per_second']:.0f}",
            f"{r['seconds_per_epoch']:.2f}",
            f"{r['median_seconds_per_epoch']:.2f}",
            f"{r['epochs_run']} (best {r['best_epoch']})",
            f"{reference_seconds:.1f} (all {r['epochs_run']})",
            bd.fmt(r["rmse"], 2),
            bd.fmt(r["naive_rmse"], 2),
            bd.fmt(r["skill"]),
        ],
    ]
    headers = [
        "setup",
        "train win",
        "win/s",
        "s/epoch",
        "median s/ep",
        "epochs",
        "seconds",
        "test RMSE",
        "naive",
        "skill",
    ]
    print()
    print(f"test split: {d['test_period'][0]}..{d['test_period'][1]} ({d['test_windows']} windows)")
    print(bd.format_table(headers, rows, text_columns=1))
    print()
    print(
        f"speed: reference whole fit ({r['epochs_run']} epochs) {reference_seconds:.1f}s / default whole "
        f"fit ({d['epochs_run']} epochs, patience included) {default_seconds:.1f}s = {speedup:.2f}x "
        f"(goal >= {GOAL_SPEEDUP:.0f}x)"
    )
    print(
        f"       from median epoch times: {r['epochs_run']} x {r['median_seconds_per_epoch']:.2f}s / "
        f"{d['epochs_run']} x {d['median_seconds_per_epoch']:.2f}s = {median_speedup:.2f}x"
    )
    print(
        f"test RMSE: default {d['rmse']:.2f} vs reference {r['rmse']:.2f} "
        f"({'equal or better' if rmse_ok else 'WORSE'})"
    )
    verdict = "MET" if goal_met else "NOT MET"
    caveat = " (quick run: not the issue's setup)" if args.quick or ref_epochs != REFERENCE_EPOCHS else ""
    print(f"goal (whole fit >= {GOAL_SPEEDUP:.0f}x faster, RMSE <= reference): {verdict}{caveat}")
    print(f"after: {bd.load_line()}")

    if args.json:
        payload: dict[str, Any] = {
            "benchmark": "train_throughput",
            "quick": args.quick,
            "data": {
                "ticker": data.ticker,
                "start_requested": str(start),
                "first_day": str(data.first_day),
                "last_day": str(data.last_day),
                "source": data.source,
            },
            "device": args.device,
            "threads": args.threads,
            "default": {"config": bd.config_dict(default_model, default_training), **d},
            "reference": {
                "config": bd.config_dict(ref_model, ref_training),
                "seconds_all_epochs": reference_seconds,
                **r,
            },
            "default_seconds_all_epochs": default_seconds,
            "speedup_whole_fit": speedup,
            "speedup_whole_fit_from_median_epochs": median_speedup,
            "rmse_equal_or_better": rmse_ok,
            "goal_met": goal_met,
            "environment_before": env_before,
            "environment_after": env_after,
        }
        bd.write_json(args.json, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
