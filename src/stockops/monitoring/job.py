"""The monitoring check Job's entry point: ``python -m stockops.monitoring.job`` in the trainer image.

The operator starts it on ``spec.monitoring.schedule`` or the ``stockops.io/monitor`` annotation with
``STOCKOPS_MONITOR_CONFIG`` (JSON: ticker, window, method, liveWindow) and the trainer's environment
(MLflow, data source, feature store, Redis). It checks the production version twice, input drift
(`check.monitor_drift`, prices refreshed first) and realised error of what was served
(`live_check.live_error`), logs both to one MLflow monitoring run, and writes one compact JSON line to
the termination-message path, which the operator turns into ``status.monitoring`` (the pod has no API
token). The line stays under the kubelet's 4096-byte limit: feature lists and messages are cut.

Exit codes follow the trainer's: 2 for what a retry cannot fix (no production version, no reference
rows, bad config: the Job's pod-failure policy fails it at once), 1 for outages (MLflow, the forecast
log) so the Job's backoff retries them; the reason is in the termination message either way.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

from stockops.config import load_settings
from stockops.quiet import quiet_third_party

DEFAULT_TERMINATION_LOG = "/dev/termination-log"
MAX_MESSAGE_BYTES = 4096
EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT = 0, 1, 2
MAX_LIST = 16
MAX_TEXT = 300

log = logging.getLogger("stockops.monitoring.job")


def _config(env: dict[str, str]) -> dict[str, Any]:
    raw = env.get("STOCKOPS_MONITOR_CONFIG", "").strip()
    config: dict[str, Any] = json.loads(raw) if raw else {}
    if not isinstance(config, dict) or not config.get("ticker"):
        raise ValueError("STOCKOPS_MONITOR_CONFIG needs a JSON object with a ticker")
    return config


def drift_block(summary: dict[str, Any], report_uri: str | None) -> dict[str, Any]:
    """`DriftSummary.to_dict()` -> the status.monitoring.drift shape (camelCase, cut to size; pure)."""
    features = summary.get("features") or []
    return _drop_none(
        {
            "checkedAt": summary.get("checked_at"),
            "verdict": summary.get("verdict"),
            "share": summary.get("share"),
            "driftShareThreshold": summary.get("drift_share"),
            "driftedFeatures": list(summary.get("drifted_features") or [])[:MAX_LIST],
            "testedFeatures": len(features),
            "untestableFeatures": [u["column"] for u in summary.get("untestable") or []][:MAX_LIST],
            "method": features[0]["stattest"] if features else None,
            "window": summary.get("current_rows"),
            "currentStart": summary.get("current_start"),
            "currentEnd": summary.get("current_end"),
            "reportUri": report_uri,
            "message": (summary.get("message") or None) and str(summary["message"])[:MAX_TEXT],
        }
    )


def live_block(error: dict[str, Any], checked_at: str) -> dict[str, Any]:
    """`RealisedError.to_dict()` -> the status.monitoring.live shape (pure)."""
    return _drop_none(
        {
            "checkedAt": checked_at,
            "verdict": error.get("verdict"),
            "forecasts": error.get("n_forecasts"),
            "points": error.get("n_points"),
            "rmse": error.get("rmse"),
            "naiveRmse": error.get("naive_rmse"),
            "skill": error.get("skill"),
            "skillLow": error.get("skill_ci_low"),
            "skillHigh": error.get("skill_ci_high"),
            "coverage": error.get("coverage"),
            "directionalAccuracy": error.get("directional_accuracy"),
            "firstAsOf": error.get("first_as_of"),
            "lastAsOf": error.get("last_as_of"),
            "message": (error.get("message") or None) and str(error["message"])[:MAX_TEXT],
        }
    )


def _drop_none(block: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if v is not None and v != []}


def fit_message(payload: dict[str, Any], limit: int = MAX_MESSAGE_BYTES) -> str:
    """One JSON line under ``limit`` bytes: long lists and messages are shortened first (pure)."""
    line = json.dumps(payload, separators=(",", ":"), default=str)
    if len(line.encode()) < limit:
        return line
    trimmed = json.loads(line)
    for block in ("drift", "live"):
        part = trimmed.get(block) or {}
        for key in ("driftedFeatures", "untestableFeatures"):
            if key in part:
                part[key] = part[key][:4]
        if "message" in part:
            part["message"] = part["message"][:80]
    if "message" in trimmed:
        trimmed["message"] = str(trimmed["message"])[:1000]
    line = json.dumps(trimmed, separators=(",", ":"), default=str)
    return line if len(line.encode()) < limit else json.dumps({"ok": False, "reason": "Error"})


def classify_failure(exc: BaseException) -> tuple[str, int]:
    """(reason, exit code): the reasons the operator shows in status.monitoring.failure."""
    from stockops.monitoring.live_check import ForecastLogUnavailableError
    from stockops.monitoring.reference import ReferenceMissingError
    from stockops.outages import classify_outage, exception_chain
    from stockops.registry.loading import ModelNotFoundError

    chain = exception_chain(exc)
    if any(isinstance(e, ModelNotFoundError) for e in chain):
        return "NoProductionVersion", EXIT_BAD_INPUT
    if any(isinstance(e, ReferenceMissingError) for e in chain):
        return "NoReference", EXIT_BAD_INPUT
    if any(isinstance(e, ForecastLogUnavailableError) for e in chain):
        return "ForecastLogUnavailable", EXIT_ERROR
    outage = classify_outage(exc)  # the feature store's Redis, MLflow
    if outage:
        return outage, EXIT_ERROR
    if isinstance(exc, ValueError | json.JSONDecodeError):
        return "InvalidConfig", EXIT_BAD_INPUT
    return "Error", EXIT_ERROR


def run_check(config: dict[str, Any]) -> dict[str, Any]:
    """Drift + live error of the production version; the termination payload (I/O: MLflow, store)."""
    from stockops.monitoring.check import monitor_drift
    from stockops.monitoring.drift import DEFAULT_METHOD, DEFAULT_WINDOW
    from stockops.monitoring.live_check import live_error
    from stockops.monitoring.realised import DEFAULT_WINDOW as LIVE_WINDOW
    from stockops.registry.tracking import TrackingTarget, connect

    settings = load_settings()
    ticker = str(config["ticker"])
    method = config.get("method") or DEFAULT_METHOD
    outcome = monitor_drift(
        ticker,
        settings,
        window=int(config.get("window") or DEFAULT_WINDOW),
        method=None if method == "auto" else method,
        refresh_prices=True,
    )
    checked_at = outcome.summary.checked_at.astimezone(UTC).replace(microsecond=0).isoformat()
    checked_at = checked_at.replace("+00:00", "Z")  # RFC 3339 as Kubernetes writes it
    live = live_error(
        ticker,
        settings,
        model_name=outcome.model_name,
        model_version=outcome.model_version,
        window=int(config.get("liveWindow") or LIVE_WINDOW),
    )
    client = connect(TrackingTarget.from_settings(settings))
    for key, value in (
        ("live_skill", live.skill),
        ("live_rmse", live.rmse),
        ("live_coverage", live.coverage),
    ):
        if value is not None:
            client.log_metric(outcome.monitor_run_id, key, value)
    client.set_tag(outcome.monitor_run_id, "stockops.live.verdict", live.verdict.value)
    return {
        "ok": True,
        "ticker": ticker,
        "model_name": outcome.model_name,
        "model_version": outcome.model_version,
        "run_id": outcome.monitor_run_id,
        "drift": {**drift_block(outcome.summary.to_dict(), outcome.report_uri), "checkedAt": checked_at},
        "live": live_block(live.to_dict(), checked_at),
    }


def write_termination(line: str, env: dict[str, str]) -> None:
    path = Path(env.get("STOCKOPS_TERMINATION_LOG", DEFAULT_TERMINATION_LOG))
    try:
        path.write_text(line + "\n")
    except OSError as exc:  # outside a pod the default path may not be writable
        log.warning("could not write termination message to %s: %s", path, exc)
    print(line, flush=True)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = dict(os.environ)
    # An unreachable MLflow fails the attempt in seconds (the Job retries), not after minutes of backoff.
    from stockops.outages import check_tracking_server, fail_fast_mlflow_client

    fail_fast_mlflow_client()
    quiet_third_party(verbose=False)
    try:
        check_tracking_server(load_settings().mlflow_tracking_uri)
        payload = run_check(_config(env))
    except Exception as exc:
        reason, code = classify_failure(exc)
        message = str(exc).strip() or type(exc).__name__
        log.error("monitoring check failed (%s): %s", reason, message)
        write_termination(fit_message({"ok": False, "reason": reason, "message": message[:2000]}), env)
        return code
    write_termination(fit_message(payload), env)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
