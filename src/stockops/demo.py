"""`stockops demo`: the whole local pipeline in one go, as a user's first run.

A parent on ^GSPC, then AAPL transferred with `freeze` and MSFT with `fine-tune`; each is evaluated on
its own chronological test split and registered. Plots (predicted vs realised returns, rolling skill,
the latest forecast's fan chart), metrics JSON and a summary land in one folder.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console

from stockops.config import Settings
from stockops.model.config import ModelConfig, TrainingConfig, TransferConfig
from stockops.pipeline import DEFAULT_START, TrainRequest, train_and_register

DEMO_PARENT = "^GSPC"
DEMO_CHILDREN: tuple[tuple[str, str], ...] = (("AAPL", "freeze"), ("MSFT", "fine-tune"))


# `--quick`: the same three trainings on a few recent years with a small network and two epochs, to
# check an installation (and the console) in a minute; its numbers are not a result.
QUICK_START = date(2019, 1, 1)
QUICK_EPOCHS = 2
QUICK_MODEL = ModelConfig(hidden_size=16, num_layers=1, dropout=0.0)


def demo_requests(source: str, epochs: int, min_skill: float, *, quick: bool = False) -> list[TrainRequest]:
    """The three trainings, in order (pure, so the plan is testable without training)."""
    start = QUICK_START if quick else DEFAULT_START
    epochs = min(epochs, QUICK_EPOCHS) if quick else epochs
    parent = TrainRequest(
        ticker=DEMO_PARENT,
        kind="parent",
        source=source,
        start=start,
        model=QUICK_MODEL if quick else None,
        training=TrainingConfig(epochs=epochs),
        min_skill=min_skill,
    )
    children = [
        TrainRequest(
            ticker=ticker,
            kind="child",
            source=source,
            start=start,
            training=TrainingConfig(epochs=epochs),
            parent_ticker=DEMO_PARENT,
            transfer=TransferConfig(strategy=strategy),  # type: ignore[arg-type]
            min_skill=min_skill,
        )
        for ticker, strategy in DEMO_CHILDREN
    ]
    return [parent, *children]


def run_demo(
    settings: Settings,
    *,
    source: str,
    epochs: int,
    output_dir: Path,
    console: Console | None = None,
    quick: bool = False,
) -> list[dict[str, Any]]:
    console = console or Console()
    output_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for request in demo_requests(source, epochs, settings.promotion_min_skill, quick=quick):
        label = f"{request.kind} {request.ticker}"
        if request.transfer:
            label += f" ({request.transfer.strategy} from {request.parent_ticker})"
        console.rule(f"[bold]training {label}")
        summary = train_and_register(request, settings, progress=console.is_terminal)
        console.print(f"  {summary.promotion_reason}")
        row = summary.to_dict()
        row["plot_paths"] = {}
        for name, source_path in summary.plot_paths.items():
            target = output_dir / f"{summary.model_name}-{Path(source_path).name}"
            shutil.copyfile(source_path, target)
            row["plot_paths"][name] = str(target)
            console.print(f"  plot: {target}")
        (output_dir / f"{summary.model_name}-metrics.json").write_text(
            json.dumps(summary.metrics, indent=2, sort_keys=True, default=str)
        )
        rows.append(row)
    (output_dir / "summary.json").write_text(json.dumps(rows, indent=2, default=str))
    return rows
