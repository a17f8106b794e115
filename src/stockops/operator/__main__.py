"""`python -m stockops.operator`: read settings once, wire the parts, run Kopf.

Watches all namespaces unless `--namespace` is given (repeatable). Exposes Prometheus metrics on
`--metrics-port` and Kopf's liveness probe on `--liveness`.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import kopf

from stockops.operator.cluster import KubeCluster, KubeRest
from stockops.operator.controller import Controller
from stockops.operator.handlers import post_event, register
from stockops.operator.metrics import OperatorMetrics
from stockops.operator.mlflow_progress import MlflowProgressReader
from stockops.operator.mlflow_reports import MlflowReportReader
from stockops.operator.settings import OperatorSettings


def load_kube_configuration() -> Any:
    """In-cluster service account when running in a pod, else the kubeconfig (KUBECONFIG)."""
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)
    return configuration


class _QuietKopf(logging.Filter):
    """Kopf logs every timer run at INFO and a child waiting for its parent (TemporaryError) at ERROR.

    Neither is news: the first would drown the log, the second is the expected WaitingForParent state
    that status and Events already report. Routine success lines go to DEBUG, waits to INFO.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno == logging.INFO and message.endswith(" succeeded."):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        elif record.levelno == logging.ERROR and "failed temporarily: waiting for" in message:
            record.levelno, record.levelname = logging.INFO, "INFO"
        return record.levelno >= logging.getLogger().getEffectiveLevel()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stockops.operator", description=__doc__)
    parser.add_argument(
        "--namespace", "-n", action="append", default=[], help="Watch only this namespace (repeatable)."
    )
    parser.add_argument("--metrics-port", type=int, default=None, help="Prometheus port (0: off).")
    parser.add_argument(
        "--liveness",
        default="http://0.0.0.0:8080/healthz",
        help="Kopf liveness endpoint URL ('' to disable).",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="Debug logging.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_QuietKopf())
    settings = OperatorSettings()
    if args.metrics_port is not None:
        settings = settings.model_copy(update={"metrics_port": args.metrics_port})

    # one connection per handler thread, and one for the re-check thread (recheck.py)
    rest = KubeRest(load_kube_configuration(), pool_size=settings.max_workers + 1)
    metrics = OperatorMetrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    controller = Controller(
        cluster=KubeCluster(rest),
        progress=MlflowProgressReader(settings.progress_uri, settings.mlflow_experiment),
        settings=settings,
        metrics=metrics,
        post_event=post_event,
        reports=MlflowReportReader(settings.progress_uri),
    )
    registry = kopf.OperatorRegistry()
    register(registry, controller, settings, namespaces=args.namespace)
    kopf.run(
        registry=registry,
        standalone=True,
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness or None,
    )


if __name__ == "__main__":
    main()
