"""`stockops monitor TICKER`: the drift check of the production version, end to end (I/O at this edge).

Production version (registry alias) -> its reference rows (the training run's artifact) -> the newest
``window`` sessions of the same columns from the feature store -> `check_drift` -> a *monitoring run* in
the StockOps experiment (tags ``stockops.kind=monitor``, the ticker, the model version and its training
run; metrics ``drift_share``/``drifted_features``/``tested_features``; artifacts ``monitoring/drift.html``
and ``monitoring/drift.json``) and the same two files under ``$STOCKOPS_HOME/outputs/monitor/``.

A run per check rather than artifacts on the training run: the training run is a finished record of
what was trained (its artifacts are what was registered), while checks repeat; one run each keeps their
history comparable in MLflow (share over time) without rewriting the version's own run.

No stored features for the ticker is an ``InsufficientData`` result (a state an operator reports, not
a crash); no production version or no reference rows are errors that say what to do.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stockops.config import Settings
from stockops.monitoring.calibration import CALIBRATED_METHODS, calibrate_ks
from stockops.monitoring.drift import (
    DEFAULT_METHOD,
    DEFAULT_WINDOW,
    DriftSummary,
    DriftVerdict,
    check_drift,
)

HTML_FILE = "drift.html"
JSON_FILE = "drift.json"
ARTIFACT_DIR = "monitoring"
KIND_MONITOR = "monitor"
TAG_MODEL_VERSION = "stockops.model_version"
TAG_TRAINING_RUN = "stockops.training_run_id"
TAG_VERDICT = "stockops.drift.verdict"


@dataclass(frozen=True)
class MonitorOutcome:
    ticker: str
    model_name: str
    model_version: str
    training_run_id: str
    monitor_run_id: str
    summary: DriftSummary
    report_uri: str | None  # the HTML report in MLflow (None when nothing was tested)
    local_dir: Path

    def to_dict(self) -> dict[str, Any]:
        return {
            "ticker": self.ticker,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "training_run_id": self.training_run_id,
            "monitor_run_id": self.monitor_run_id,
            "report_uri": self.report_uri,
            "local_dir": str(self.local_dir),
            **self.summary.to_dict(),
        }


def monitor_drift(
    ticker: str,
    settings: Settings,
    *,
    window: int = DEFAULT_WINDOW,
    method: str | None = DEFAULT_METHOD,
    now: datetime | None = None,
    refresh_prices: bool = False,
) -> MonitorOutcome:
    """Check the production version's inputs; ``refresh_prices`` first ingests the newest prices from
    ``settings.data_source`` (a check Job's store starts empty or stale; the CLI checks what is stored)."""
    from stockops.feature_access import open_feature_store
    from stockops.featurestore.errors import FeatureStoreEmpty
    from stockops.featurestore.offline import recent_frame
    from stockops.monitoring.reference import load_reference
    from stockops.registry import naming
    from stockops.registry.loading import resolve_version
    from stockops.registry.tracking import TrackingTarget, connect

    now = now or datetime.now(UTC)
    client = connect(TrackingTarget.from_settings(settings))
    name = naming.registered_model_name(ticker)
    version = resolve_version(client, name)
    reference = load_reference(client, version.run_id)
    columns = tuple(reference.columns)
    store = open_feature_store(settings)
    if refresh_prices:
        from stockops.data.sources import source_from_string
        from stockops.feature_access import refresh

        refresh(ticker, source_from_string(settings.data_source), store, start=None, end=None)
    try:
        current = recent_frame(ticker, window, store=store)
        no_features = None
    except FeatureStoreEmpty as exc:
        current, no_features = reference.iloc[:0], str(exc)

    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    local_dir = settings.outputs_dir / "monitor" / name / stamp
    calibration = None
    if method in CALIBRATED_METHODS:
        calibration = calibrate_ks(reference, columns, window)
    summary = check_drift(
        reference,
        current,
        columns,
        method=method,
        checked_at=now,
        html_path=local_dir / HTML_FILE,
        thresholds=calibration.thresholds if calibration and calibration.calibrated else None,
        calibration_windows=calibration.windows if calibration else 0,
    )
    if no_features is not None:
        summary = _with_message(summary, f"insufficient data: {no_features}")
    local_dir.mkdir(parents=True, exist_ok=True)
    (local_dir / JSON_FILE).write_text(json.dumps(summary.to_dict(), indent=2, sort_keys=True))

    run = client.create_run(
        client.get_experiment_by_name(naming.EXPERIMENT_NAME).experiment_id,
        run_name=f"monitor-{name}",
        tags={
            naming.TAG_TICKER: ticker,
            naming.TAG_KIND: KIND_MONITOR,
            TAG_MODEL_VERSION: str(version.version),
            TAG_TRAINING_RUN: version.run_id,
            TAG_VERDICT: summary.verdict.value,
        },
    )
    run_id = run.info.run_id
    try:
        client.log_param(run_id, "window", window)
        client.log_param(run_id, "method", method or "auto")
        client.log_param(run_id, "calibration_windows", summary.calibration_windows)
        client.log_param(run_id, "columns", json.dumps(list(columns)))
        if summary.share is not None:
            client.log_metric(run_id, "drift_share", summary.share)
            client.log_metric(run_id, "drifted_features", len(summary.drifted_features))
            client.log_metric(run_id, "tested_features", len(summary.features))
        with tempfile.TemporaryDirectory() as tmp:
            payload = Path(tmp) / JSON_FILE
            payload.write_text(json.dumps(summary.to_dict(), indent=2, sort_keys=True))
            client.log_artifact(run_id, str(payload), ARTIFACT_DIR)
        html = local_dir / HTML_FILE
        report_uri = None
        if html.exists():
            client.log_artifact(run_id, str(html), ARTIFACT_DIR)
            report_uri = f"{run.info.artifact_uri}/{ARTIFACT_DIR}/{HTML_FILE}"
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    return MonitorOutcome(
        ticker=ticker,
        model_name=name,
        model_version=str(version.version),
        training_run_id=version.run_id,
        monitor_run_id=run_id,
        summary=summary,
        report_uri=report_uri,
        local_dir=local_dir,
    )


def _with_message(summary: DriftSummary, message: str) -> DriftSummary:
    from dataclasses import replace

    assert summary.verdict is DriftVerdict.INSUFFICIENT_DATA
    return replace(summary, message=message)
