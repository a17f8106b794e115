"""One drift check's wall time and peak memory for a ticker with 20 years of data (issue 13).

What `stockops monitor` runs after its I/O: `stockops.monitoring.drift.check_drift` on the model's input
columns, reference = the training part's rows (the first 70 % of the history, as the default
val/test fractions of 0.15 + 0.15 leave it), current = the newest ``--window`` sessions. ^GSPC from the
real CSVs, the newest ``--years`` years.

Reported per phase: importing Evidently (once per process: the CLI pays it on every call), the first
check (cold: Evidently's lazy set-up), then the median of ``--repeats`` warm checks; each with and
without writing the HTML report (the CLI writes it). Peak memory: Python-level allocations traced by
``tracemalloc`` during one more, separate check (numpy and pandas buffers included; tracing slows it,
so it is not timed), and the process's peak RSS.
The K-S thresholds are calibrated on the reference's own windows first, as `stockops monitor` does
(`stockops.monitoring.calibration`); its time is printed on its own, and the checks use the thresholds.
``--calibration N`` checks N windows cut from inside the reference at the nominal threshold and at the
calibrated ones: every Drifted there is a false alarm.
Nothing is asserted; on a shared machine say what else was running (the load average is printed).

    .venv/bin/python benchmarks/drift_check.py [--years 20] [--window 60] [--repeats 5]
        [--method ks|wasserstein|psi|auto] [--calibration 16] [--json PATH]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path
from typing import Any

from bench_data import (
    PARENT_TICKER,
    default_data_dir,
    environment,
    fmt,
    format_table,
    load_line,
    load_ticker,
    write_json,
)

from stockops.data.features import MODEL_FEATURES

REFERENCE_SHARE = 0.70  # 1 - val_fraction - test_fraction (TrainingConfig defaults)


def peak_rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux


THRESHOLDS: dict[str, float] | None = None  # set in main from the calibration


def timed_check(reference: Any, current: Any, html: Path | None, method: str | None) -> tuple[float, Any]:
    """(seconds, summary) of one check, untraced."""
    from stockops.monitoring.drift import check_drift

    started = time.perf_counter()
    summary = check_drift(
        reference, current, MODEL_FEATURES, html_path=html, method=method, thresholds=THRESHOLDS
    )
    return time.perf_counter() - started, summary


def traced_peak_mib(reference: Any, current: Any, html: Path | None, method: str | None) -> float:
    """Peak Python-level allocation of one check (a separate run: tracing slows it several times)."""
    from stockops.monitoring.drift import check_drift

    tracemalloc.start()
    check_drift(reference, current, MODEL_FEATURES, html_path=html, method=method, thresholds=THRESHOLDS)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def calibration(reference: Any, window: int, count: int, method: str | None) -> dict[str, Any]:
    """Checks of windows cut from the reference itself, at the nominal and at the calibrated
    thresholds: every Drifted verdict there is a false alarm."""
    from stockops.monitoring.drift import DriftVerdict, check_drift

    last = len(reference) - window
    starts = sorted({round(last * i / max(count - 1, 1)) for i in range(count)})
    out: dict[str, Any] = {"windows": len(starts)}
    for label, thresholds in (("nominal", None), ("calibrated", THRESHOLDS)):
        shares, drifted = [], 0
        for start in starts:
            summary = check_drift(
                reference,
                reference.iloc[start : start + window],
                MODEL_FEATURES,
                method=method,
                thresholds=thresholds,
            )
            shares.append(summary.share)
            drifted += summary.verdict is DriftVerdict.DRIFTED
        mean = statistics.fmean(s for s in shares if s is not None)
        print(
            f"calibration ({label} thresholds): {drifted} of {len(starts)} windows from inside the "
            f"reference called Drifted (mean share drifted {mean:.2f}; method {method or 'auto'})"
        )
        out[label] = {"drifted_verdicts": drifted, "shares": shares, "mean_share": mean}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--ticker", default=PARENT_TICKER)
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--window", type=int, default=60, help="current sessions (the CLI's --window)")
    parser.add_argument("--repeats", type=int, default=5, help="warm checks per variant")
    parser.add_argument(
        "--method",
        default="ks",
        help="Evidently stattest (default ks, as the CLI; 'auto': Evidently's choice)",
    )
    parser.add_argument(
        "--calibration",
        type=int,
        default=0,
        metavar="N",
        help="also check N windows of --window sessions taken from inside the reference (false alarms)",
    )
    parser.add_argument("--json", type=Path, default=None, metavar="PATH")
    args = parser.parse_args()

    print(load_line())
    rss_start = peak_rss_mib()
    data = load_ticker(args.data_dir, args.ticker, None)
    last = data.last_day
    start = date(last.year - args.years, last.month, min(last.day, 28))
    features = data.features.loc[str(start) :, list(MODEL_FEATURES)]
    cut = int(len(features) * REFERENCE_SHARE)
    reference, current = features.iloc[:cut], features.iloc[-args.window :]
    print(
        f"{data.ticker} {features.index[0].date()}..{last}: {len(features)} rows, reference {len(reference)} "
        f"rows x {len(MODEL_FEATURES)} features, current {len(current)} sessions"
    )

    started = time.perf_counter()
    import evidently  # noqa: F401 - timed: what every `stockops monitor` process pays first

    import_seconds = time.perf_counter() - started
    method = None if args.method == "auto" else args.method
    global THRESHOLDS
    from stockops.monitoring.calibration import CALIBRATED_METHODS, calibrate_ks

    started = time.perf_counter()
    calibrated = (
        calibrate_ks(reference, MODEL_FEATURES, args.window) if method in CALIBRATED_METHODS else None
    )
    calibrate_seconds = time.perf_counter() - started
    if calibrated is not None and calibrated.calibrated:
        THRESHOLDS = dict(calibrated.thresholds)
        print(
            f"calibration of K-S thresholds on {calibrated.windows} reference windows: "
            f"{calibrate_seconds:.2f} s; thresholds "
            + ", ".join(f"{c} {t:.1e}" for c, t in THRESHOLDS.items())
        )
    rows: list[list[str]] = []
    results: dict[str, Any] = {
        "import_seconds": import_seconds,
        "calibrate_seconds": calibrate_seconds,
        "thresholds": THRESHOLDS,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for variant, html in (("no report", None), ("html report", Path(tmp) / "drift.html")):
            cold, summary = timed_check(reference, current, html, method)
            warm = [timed_check(reference, current, html, method)[0] for _ in range(args.repeats)]
            seconds = statistics.median(warm)
            mib = traced_peak_mib(reference, current, html, method)
            size = html.stat().st_size / 2**20 if html is not None else None
            results[variant] = {
                "cold_seconds": cold,
                "warm_median_seconds": seconds,
                "warm_seconds": warm,
                "traced_peak_mib": mib,
                "html_mib": size,
                "verdict": summary.verdict.value,
                "share": summary.share,
                "stattests": sorted({f.stattest for f in summary.features}),
            }
            size_text = fmt(size, 2) if size is not None else "-"
            rows.append(
                [variant, summary.verdict.value, fmt(cold, 3), fmt(seconds, 3), fmt(mib, 1), size_text]
            )
    print(f"import evidently: {import_seconds:.2f} s")
    headers = [
        "variant",
        "verdict",
        "cold s",
        "warm s (median)",
        "traced peak MiB",
        "html MiB",
    ]
    print(format_table(headers, rows))
    if args.calibration:
        results["calibration"] = calibration(reference, args.window, args.calibration, method)
    rss = peak_rss_mib()
    print(f"process peak RSS {rss:.0f} MiB (at start {rss_start:.0f} MiB); {load_line()}")
    if args.json is not None:
        write_json(
            args.json,
            {
                "ticker": data.ticker,
                "rows": len(features),
                "reference_rows": len(reference),
                "current_rows": len(current),
                "years": args.years,
                "window": args.window,
                "repeats": args.repeats,
                "method": args.method,
                "peak_rss_mib": rss,
                **results,
                "environment": environment(),
            },
        )


if __name__ == "__main__":
    main()
