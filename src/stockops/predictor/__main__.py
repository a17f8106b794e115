"""``python -m stockops.predictor``: the predictor image's entrypoint (one KServe model server).

    python -m stockops.predictor --model-name stockops-aapl [--model-version 3 | --model-alias production]
                                 [--http-port 8080]

Flags override the environment (STOCKOPS_MODEL_NAME, STOCKOPS_MODEL_VERSION, STOCKOPS_MODEL_ALIAS, PORT;
see `stockops.predictor.settings`). Shared settings (MLFLOW_TRACKING_URI, STOCKOPS_REDIS_URL,
STOCKOPS_DATA_SOURCE) come from `stockops.config`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from stockops.config import load_settings
from stockops.predictor.serve import run
from stockops.predictor.settings import PredictorSettings


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stockops.predictor", description=__doc__.splitlines()[0])
    parser.add_argument("--model-name", help="registered model, e.g. stockops-aapl (env STOCKOPS_MODEL_NAME)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--model-version", help="registry version to serve (env STOCKOPS_MODEL_VERSION)")
    group.add_argument(
        "--model-alias", help="registry alias to serve, default production (env STOCKOPS_MODEL_ALIAS)"
    )
    parser.add_argument("--http-port", type=int, help="HTTP port (env PORT, default 8080)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = {
        key: value
        for key, value in {
            "model_name": args.model_name,
            "model_version": args.model_version,
            "model_alias": args.model_alias,
            "http_port": args.http_port,
        }.items()
        if value is not None
    }
    if args.model_version is not None:
        overrides["model_alias"] = None  # a flag beats an alias from the environment
    if args.model_alias is not None:
        overrides["model_version"] = None
    try:
        predictor = PredictorSettings(**overrides)
    except ValidationError as exc:
        print(f"predictor settings invalid: {exc}", file=sys.stderr)
        return 2
    if not predictor.model_name:
        print("no model to serve: pass --model-name or set STOCKOPS_MODEL_NAME", file=sys.stderr)
        return 2
    run(predictor, load_settings())
    return 0


if __name__ == "__main__":
    from stockops.launch import exec_optimized

    exec_optimized("stockops.predictor")  # Feast without typeguard's import-time instrumentation
    sys.exit(main())
