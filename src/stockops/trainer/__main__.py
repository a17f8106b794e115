"""`python -m stockops.trainer`: one training, driven by the CR spec the operator passes.

Config comes from `STOCKOPS_TRAINER_CONFIG` (the CR spec as JSON) with command-line flags on top. The
outcome is a one-line JSON on the termination-message path, which the operator turns into status:
exit 0 on success, 2 on bad or missing data / an incompatible parent, 1 on anything else.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from stockops.config import load_settings
from stockops.quiet import quiet_third_party

DEFAULT_TERMINATION_LOG = "/dev/termination-log"
EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT = 0, 1, 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m stockops.trainer", description=__doc__)
    p.add_argument("--kind", choices=["parent", "child"], required=True)
    p.add_argument("--ticker", help="overrides spec.ticker")
    p.add_argument("--parent", help="parent ticker (children)")
    p.add_argument("--parent-version", help="parent model version to transfer from (default: production)")
    p.add_argument("--strategy", choices=["freeze", "fine-tune"])
    p.add_argument("--epochs", type=int)
    p.add_argument("--source", help="auto | yfinance | synthetic | csv:DIR (default: settings)")
    p.add_argument("--start", help="first date, YYYY-MM-DD")
    return p.parse_args(argv)


def build_spec(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """Merge the spec JSON from the environment with command-line overrides."""
    raw = env.get("STOCKOPS_TRAINER_CONFIG", "").strip()
    spec: dict[str, Any] = json.loads(raw) if raw else {}
    if args.ticker:
        spec["ticker"] = args.ticker
    if args.parent:
        spec["parentTicker"] = args.parent
    if args.parent_version:
        spec["parentVersion"] = args.parent_version
    if args.strategy:
        spec.setdefault("transfer", {})["strategy"] = args.strategy
    if args.epochs:
        spec.setdefault("training", {})["epochs"] = args.epochs
        if args.kind == "child":
            spec.setdefault("transfer", {})["epochs"] = args.epochs
    if args.source:
        spec.setdefault("data", {})["source"] = args.source
    if args.start:
        spec.setdefault("data", {})["start"] = args.start
    if "ticker" not in spec:
        raise ValueError("no ticker: pass --ticker or set spec.ticker in STOCKOPS_TRAINER_CONFIG")
    return spec


def classify_failure(exc: BaseException) -> tuple[str, int]:
    """(reason, exit code) for the termination message; reasons are the CR condition reasons."""
    from stockops.data.errors import DataUnavailableError, DataValidationError
    from stockops.model.experiment import ExperimentDataError
    from stockops.model.folds import WalkForwardDataError
    from stockops.model.transfer import TransferError
    from stockops.registry.loading import ModelNotFoundError

    if isinstance(exc, DataUnavailableError):
        return "NoData", EXIT_BAD_INPUT
    if isinstance(exc, DataValidationError | ExperimentDataError | WalkForwardDataError):
        return "BadData", EXIT_BAD_INPUT
    if isinstance(exc, TransferError):
        return "ParentIncompatible", EXIT_BAD_INPUT
    if isinstance(exc, ModelNotFoundError):
        return "ParentMissing", EXIT_BAD_INPUT
    from stockops.outages import classify_outage

    outage = classify_outage(exc)  # checked before ValueError: MLflow wraps connection errors
    if outage:
        return outage, EXIT_ERROR  # retryable: the Job's next attempt may find it back
    if isinstance(exc, ValueError | json.JSONDecodeError):
        return "InvalidConfig", EXIT_BAD_INPUT
    return "Error", EXIT_ERROR


def write_termination(payload: dict[str, Any], env: dict[str, str]) -> None:
    path = Path(env.get("STOCKOPS_TERMINATION_LOG", DEFAULT_TERMINATION_LOG))
    line = json.dumps(payload, separators=(",", ":"), default=str)
    try:
        path.write_text(line + "\n")
    except OSError as exc:  # outside a pod the default path may not be writable
        logging.getLogger(__name__).warning("could not write termination message to %s: %s", path, exc)
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = dict(os.environ)
    args = parse_args(argv)
    from stockops.outages import check_tracking_server, fail_fast_mlflow_client

    fail_fast_mlflow_client()  # an unreachable MLflow fails this attempt in seconds, named
    try:
        from stockops.pipeline import train_and_register
        from stockops.trainer.spec import request_from_spec

        settings = load_settings()
        quiet_third_party(verbose=settings.verbose)
        check_tracking_server(settings.mlflow_tracking_uri)
        spec = build_spec(args, env)
        request = request_from_spec(
            args.kind,
            spec,
            default_source=settings.data_source,
            job_name=env.get("STOCKOPS_JOB_NAME"),
            default_min_skill=settings.promotion_min_skill,
        )
        summary = train_and_register(request, settings, progress=sys.stderr.isatty())
    except Exception as exc:
        reason, code = classify_failure(exc)
        message = str(exc).strip() or type(exc).__name__
        logging.getLogger("stockops.trainer").error("training failed (%s): %s", reason, message)
        write_termination({"ok": False, "reason": reason, "message": message[:2000]}, env)
        return code
    write_termination(summary.termination_message(), env)
    return EXIT_OK


if __name__ == "__main__":
    from stockops.launch import exec_optimized

    exec_optimized("stockops.trainer")  # Feast without typeguard's import-time instrumentation
    sys.exit(main())
