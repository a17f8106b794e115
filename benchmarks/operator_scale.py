"""Operator scale: 1,000 TickerModels under one Ready parent, and apply->Job latency at rest.

    python benchmarks/operator_scale.py [--count 1000] [--samples 20] [--kubeconfig PATH] [--controllers]

Without --kubeconfig a local test API server (tests/e2e/testenv) is started and our CRDs installed;
with --controllers that server also runs the real kube-controller-manager and kube-scheduler, as a
cluster does, so the Job controller creates a pod for every Job (they stay Pending: no node is
registered, which is the issue's "nodes cordoned") and the API server carries that load too.
The operator runs as a separate process (`python -m stockops.operator`, default settings) and nothing
runs the Jobs: the benchmark measures the operator, not training. The parent is made Ready the way a
finished training leaves it (status records the completed Job), before the operator starts.

Prints: p50/p95 of apply->Job latency for single TickerModels at rest; seconds from the first of
`--count` creates until all their Jobs exist; the operator's peak RSS (VmHWM). Goals from the issue:
under 60 s and under 300 MB for 1,000.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from stockops.crd.parent_model import ParentModelSpec
from stockops.devcluster import LocalApiServer, build_tool, find_repo_root, install_crds, stop_process
from stockops.operator.builders import training_identity
from stockops.operator.naming import LABEL_OWNER_KIND, LABEL_OWNER_UID, job_name

GROUP, VERSION = "stockops.io", "v1alpha1"
NOW = "2024-01-01T00:00:00Z"


def ready_parent(custom: k8s_client.CustomObjectsApi, namespace: str) -> None:
    """A ParentModel whose status records a finished training of version 1 (as after TTL cleanup)."""
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ParentModel",
        "metadata": {"name": "gspc"},
        "spec": {},
    }
    created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "parentmodels", body)
    meta = created["metadata"]
    identity = training_identity(ParentModelSpec.model_validate(created["spec"]))
    conditions = [
        {"type": t, "status": "True", "reason": r, "message": "benchmark", "lastTransitionTime": NOW}
        for t, r in (("Trained", "TrainingSucceeded"), ("Ready", "Ready"))
    ]
    status = {
        "observedGeneration": meta["generation"],
        "phase": "Ready",
        "conditions": conditions,
        # The Job the operator itself would name for this spec (its identity, no trigger): a stale
        # name would make it train the parent again instead of seeding the children.
        "training": {
            "jobName": job_name("gspc", meta["uid"], identity),
            "identity": identity,
            "completionTime": NOW,
        },
        "mlflow": {"modelName": "stockops-gspc", "modelVersion": "1", "servingVersion": "1"},
    }
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "parentmodels", "gspc", {"status": status}
    )


def ticker_model(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TickerModel",
        "metadata": {"name": name},
        "spec": {"ticker": "AAPL", "parentRef": {"name": "gspc"}, "serving": {"enabled": False}},
    }


def count_jobs(batch: k8s_client.BatchV1Api, namespace: str, kind: str = "tickermodel") -> int:
    """Jobs the operator created for resources of `kind` in `namespace`."""
    selector = f"{LABEL_OWNER_UID},{LABEL_OWNER_KIND}={kind}"  # the label holds the kind, lower case
    listed = batch.list_namespaced_job(namespace, label_selector=selector, _preload_content=False)
    return len(json.loads(listed.data)["items"])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--kubeconfig", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--controllers", action="store_true", help="real controller manager + scheduler")
    args = parser.parse_args()

    repo = find_repo_root()
    work = Path(tempfile.mkdtemp(prefix="stockops-bench-"))
    server = None
    operator = None
    try:
        if args.kubeconfig is None:
            extra = ("--controllers",) if args.controllers else ()
            server = LocalApiServer.start(build_tool(repo, "testenv"), work / "kube", extra_args=extra)
            kubeconfig = server.kubeconfig()
        else:
            kubeconfig = args.kubeconfig
        api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
        install_crds(api, repo / "crds")
        core, custom, batch = (
            k8s_client.CoreV1Api(api),
            k8s_client.CustomObjectsApi(api),
            k8s_client.BatchV1Api(api),
        )
        suffix = str(int(time.time()))
        at_rest, bulk = f"bench-rest-{suffix}", f"bench-bulk-{suffix}"
        for namespace in (at_rest, bulk):
            core.create_namespace({"metadata": {"name": namespace}})
            ready_parent(custom, namespace)

        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("STOCKOPS_")},
            "KUBECONFIG": str(kubeconfig),
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",  # never contacted: no Job runs
        }
        log = work / "operator.log"
        with log.open("wb") as out:
            operator = subprocess.Popen(
                [sys.executable, "-m", "stockops.operator", "--metrics-port", "0", "--liveness", ""],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        time.sleep(5.0)  # let it list and settle

        latencies = []
        for index in range(args.samples):
            name = f"one-{index}"
            started = time.perf_counter()
            created = custom.create_namespaced_custom_object(
                GROUP, VERSION, at_rest, "tickermodels", ticker_model(name)
            )
            # By owner, not by name: a Job's name carries the hash of what it trains (operator.naming).
            selector = f"{LABEL_OWNER_UID}={created['metadata']['uid']}"
            while True:
                if batch.list_namespaced_job(at_rest, label_selector=selector).items:
                    break
                if operator.poll() is not None or time.perf_counter() - started > 60:
                    raise SystemExit(f"no Job for {name}; operator log:\n{log.read_text()[-3000:]}")
                time.sleep(0.005)
            latencies.append(time.perf_counter() - started)
            time.sleep(0.5)
        latencies.sort()
        p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
        p50 = statistics.median(latencies)
        print(
            f"apply->Job latency at rest ({args.samples} objects): "
            f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"
        )

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(
                pool.map(
                    lambda i: custom.create_namespaced_custom_object(
                        GROUP, VERSION, bulk, "tickermodels", ticker_model(f"tm-{i:05d}")
                    ),
                    range(args.count),
                )
            )
        created_s = time.perf_counter() - started
        seen = 0
        while seen < args.count:
            if operator.poll() is not None:
                raise SystemExit(f"operator exited; log:\n{log.read_text()[-3000:]}")
            if time.perf_counter() - started > args.timeout:
                raise SystemExit(f"only {seen}/{args.count} Jobs after {args.timeout:.0f}s")
            time.sleep(0.5)
            seen = count_jobs(batch, bulk)
        all_jobs_s = time.perf_counter() - started
        time.sleep(10.0)  # a few timer rounds over all objects, to include their memory
        print(
            f"{args.count} TickerModels: created in {created_s:.1f} s; "
            f"all Jobs exist after {all_jobs_s:.1f} s ({all_jobs_s - created_s:.1f} s after the last create)"
        )
        print("  (goal: under 60 s)")
        print(f"operator peak RSS: {peak_rss_mb(operator.pid):.0f} MB (goal < 300 MB)")
        retrained = sum(count_jobs(batch, ns, "parentmodel") for ns in (at_rest, bulk))
        print(f"Jobs for the Ready parents: {retrained} (0: they seed the children as they are)")
        if args.controllers:
            pods = core.list_namespaced_pod(bulk, limit=5000).items
            print(f"pods the real Job controller created for them by now: {len(pods)} (Pending: no nodes)")
        return 0
    finally:
        if operator is not None:
            stop_process(operator)
        if server is not None:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
