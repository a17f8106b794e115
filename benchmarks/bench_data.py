"""What the ML-core benchmarks share: where the real CSVs are, loading a ticker's feature frame, the common
command-line flags, epoch-history arithmetic, and plain-text tables / JSON output.

The benchmarks are scripts run as ``python benchmarks/<name>.py``, so this module is imported by its bare
name (the script's folder is first on ``sys.path``). It touches no MLflow: the benchmarks measure the ML
core (:func:`stockops.model.experiment.run_experiment`), not the tracking server.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from stockops.data.features import FEATURE_SET_VERSION, MODEL_FEATURES, compute_features
from stockops.data.sources import source_from_string
from stockops.model.bundle import ModelBundle
from stockops.model.config import ModelConfig, TrainingConfig, TransferConfig
from stockops.model.experiment import ExperimentResult, run_experiment
from stockops.model.training import EpochStats

REPO_ROOT = Path(__file__).resolve().parents[1]
PARENT_TICKER = "^GSPC"
PARENT_START = date(2004, 1, 1)
# --quick: a smoke run of the whole script (minutes, not hours); its figures are NOT the setup.
QUICK_PARENT_START = date(2016, 1, 1)
QUICK_CHILD_START = date(2018, 1, 1)
QUICK_EPOCHS = 3

# Yahoo index symbols whose CSV drops the caret (`^GSPC` -> `GSPC.csv`, see `csv_file_name`).
INDEX_SYMBOLS = frozenset({"GSPC", "DJI", "IXIC", "NDX", "RUT", "VIX", "FTSE", "N225", "GDAXI"})


def default_data_dir() -> Path:
    """``$STOCKOPS_TEST_DATA_DIR``, else ``<repo root>/../shared/data/ohlcv`` (the tests' convention)."""
    configured = os.environ.get("STOCKOPS_TEST_DATA_DIR")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data" / "ohlcv"


def ticker_for_csv(path: Path) -> str:
    """``GSPC.csv`` -> ``^GSPC``, ``AAPL.csv`` -> ``AAPL`` (the inverse of ``csv_file_name``)."""
    stem = path.stem.upper()
    return f"^{stem}" if stem in INDEX_SYMBOLS else stem


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help="folder of <TICKER>.csv files (default: $STOCKOPS_TEST_DATA_DIR or ../shared/data/ohlcv)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument(
        "--device",
        default="cpu",
        help="torch device (default cpu, so figures compare across machines; 'cuda' if you have one)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_EPOCHS} epochs and less history; figures are not the issue's setup",
    )
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write results here")


def configure_torch(threads: int) -> None:
    """Pin torch's CPU threads for everything (``fit`` pins them only while it trains; evaluation and
    the test-split forecast run outside it)."""
    if threads < 1:
        raise SystemExit(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class TickerData:
    ticker: str
    features: pd.DataFrame  # compute_features output (date index, close + MODEL_FEATURES ...)
    source: str
    synthetic: bool

    @property
    def first_day(self) -> date:
        return self.features.index[0].date()

    @property
    def last_day(self) -> date:
        return self.features.index[-1].date()


def load_ticker(data_dir: Path, ticker: str, start: date | None) -> TickerData:
    """Validated OHLCV from ``data_dir`` from ``start`` (or the ticker's first day), then features.

    The same order as the training pipeline (fetch from ``start``, then compute features), so the first
    ~50 rows after ``start`` go to indicator warm-up exactly as they do when the trainer runs.
    """
    history = source_from_string(f"csv:{data_dir}").fetch(ticker, start=start)
    return TickerData(
        ticker=history.ticker,
        features=compute_features(history.frame),
        source=history.source,
        synthetic=history.synthetic,
    )


def seconds_through(history: Sequence[EpochStats], epoch: int) -> float:
    """Wall seconds of epochs 1..``epoch`` (training + validation pass of each)."""
    return sum(stats.seconds for stats in history[:epoch])


def median_epoch_seconds(history: Sequence[EpochStats]) -> float:
    """Median epoch wall time: on a shared machine one loaded epoch can take 4x the others, and the
    median shrugs that off where the sum cannot."""
    return statistics.median(stats.seconds for stats in history) if history else float("nan")


def first_epoch_reaching(history: Sequence[EpochStats], val_loss: float) -> int | None:
    """The first epoch whose validation loss is <= ``val_loss``; None if none did."""
    for stats in history:
        if stats.val_loss <= val_loss:
            return stats.epoch
    return None


def train_windows(result: ExperimentResult) -> int:
    return result.split.train.size


def windows_per_second(result: ExperimentResult) -> float:
    """Training windows per wall second over the epochs run (each epoch = one pass over the train split
    plus one validation pass, which is part of what an epoch costs)."""
    total = sum(stats.seconds for stats in result.fit.history)
    return train_windows(result) * result.fit.epochs_run / total if total > 0 else float("nan")


def result_summary(result: ExperimentResult) -> dict[str, Any]:
    """The figures every benchmark reports for one trained model, JSON-ready."""
    report = result.report
    fit = result.fit
    return {
        "train_windows": result.split.train.size,
        "val_windows": result.split.val.size,
        "test_windows": result.split.test.size,
        "test_period": [str(result.split.test.first_anchor), str(result.split.test.last_anchor)],
        "epochs_run": fit.epochs_run,
        "best_epoch": fit.best_epoch,
        "best_val_loss": fit.best_val_loss,
        "stopped_early": fit.stopped_early,
        # every seed-ensemble member's fit (the cost of the model), not only the first one's
        "fit_seconds": sum(f.seconds for f in result.member_fits) or fit.seconds,
        "members": len(result.member_fits) or 1,
        "seconds_to_best": seconds_through(fit.history, fit.best_epoch),
        "seconds_per_epoch": (
            sum(s.seconds for s in fit.history) / fit.epochs_run if fit.epochs_run else float("nan")
        ),
        "median_seconds_per_epoch": median_epoch_seconds(fit.history),
        "windows_per_second": windows_per_second(result),
        "val_loss_history": [s.val_loss for s in fit.history],
        "reference_val_losses": result.reference_val_losses,
        "epoch_seconds": [s.seconds for s in fit.history],
        "rmse": report.rmse,
        "naive_rmse": report.naive_rmse,
        "skill": report.skill,
        "directional_accuracy": report.directional_accuracy,
        "skill_ci": [report.skill_ci_low, report.skill_ci_high],
        "drift_rmse": report.drift_rmse,
        "skill_vs_drift": report.skill_vs_drift,
        "skill_vs_drift_ci": [report.skill_vs_drift_ci_low, report.skill_vs_drift_ci_high],
        "up_rate": report.up_rate,
        "shrinkage": list(result.bundle.shrinkage) if result.bundle.shrinkage is not None else None,
        "no_edge": result.bundle.no_edge,
        "device": fit.device,
    }


def config_dict(
    model_cfg: ModelConfig, train_cfg: TrainingConfig, transfer: TransferConfig | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"model": model_cfg.model_dump(), "training": train_cfg.model_dump()}
    if transfer is not None:
        out["transfer"] = transfer.model_dump()
    return out


def describe_config(
    label: str, model_cfg: ModelConfig, train_cfg: TrainingConfig, transfer: TransferConfig | None = None
) -> str:
    """One line per block, every field, so a reader can rerun exactly this."""
    lines = [
        f"{label}:",
        "  model    " + " ".join(f"{k}={v}" for k, v in model_cfg.model_dump().items()),
        "  training " + " ".join(f"{k}={v}" for k, v in train_cfg.model_dump().items()),
    ]
    if transfer is not None:
        lines.append("  transfer " + " ".join(f"{k}={v}" for k, v in transfer.model_dump().items()))
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    """What the figures depend on besides the code: torch, threads, CPU count and load."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "loadavg_1_5_15": [round(x, 2) for x in load],
        "features": list(MODEL_FEATURES),
        "feature_set_version": FEATURE_SET_VERSION,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def load_line() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"


def fmt(value: float | int | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, text_columns: int = 2) -> str:
    """Plain fixed-width text (copy-pasteable into notes; no colours, no box drawing). The first
    ``text_columns`` columns (names) are left-aligned, the figures right-aligned."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i < text_columns else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half a results file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    tmp.replace(path)
    print(f"results written to {path}")


def epoch_printer(label: str) -> Callable[[EpochStats], None]:
    """An ``on_epoch`` callback printing one progress line per epoch to stderr (runs take minutes)."""

    def on_epoch(stats: EpochStats) -> None:
        print(
            f"  [{label}] epoch {stats.epoch}/{stats.epochs}  train {stats.train_loss:.4f}  "
            f"val {stats.val_loss:.4f}  best@{stats.best_epoch}  {stats.seconds:.1f}s",
            file=sys.stderr,
            flush=True,
        )

    return on_epoch


def train(
    data: TickerData,
    label: str,
    *,
    model_cfg: ModelConfig,
    train_cfg: TrainingConfig,
    device: str,
    parent: ModelBundle | None = None,
    transfer: TransferConfig | None = None,
    pool: Sequence[TickerData] = (),
) -> ExperimentResult:
    """One experiment exactly as the product runs it (`run_experiment`), with progress on stderr;
    ``pool`` pools a parent over those tickers (`stockops.model.pooling`)."""
    print(f"training {label} ... ({load_line()})", file=sys.stderr, flush=True)
    return run_experiment(
        data.features,
        ticker=data.ticker,
        feature_columns=MODEL_FEATURES,
        model_cfg=model_cfg,
        train_cfg=train_cfg,
        parent=parent,
        transfer=transfer,
        synthetic=data.synthetic,
        feature_version=FEATURE_SET_VERSION,
        device=device,
        on_epoch=epoch_printer(label),
        pool={d.ticker: d.features for d in pool} or None,
    )
