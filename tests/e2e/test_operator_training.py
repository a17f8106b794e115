"""The operator end to end: examples/ applied, children wait, train, serve; failures; restarts.

Real parts only: the kube-apiserver (local test server, or a cluster), a real `mlflow server` on
loopback, the real trainer and predictor (run by the test cluster's node agent or by a real cluster),
real prices from the shared OHLCV directory. The operator runs as a separate process under the
`stockops-operator` identity, bound only to the ClusterRole in deploy/rbac/operator.yaml, so a
missing RBAC rule fails these tests.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def test_examples_train_wait_transfer_and_serve(
    e2e_cluster: Any, e2e_namespace: str, start_operator: Any, harness: Any, repo_root: Path
) -> None:
    h = harness
    operator = start_operator(e2e_namespace)
    api = h.Api(e2e_cluster, e2e_namespace)
    e2e_cluster.kubectl_run("apply", "-n", e2e_namespace, "-f", str(repo_root / "examples"))
    children = ("aapl", "msft")

    def show() -> str:
        return e2e_cluster.kubectl_run(
            "get", "stockops", "-n", e2e_namespace, "-o", "wide", check=False
        ).stdout

    # While the parent trains, the children wait with a reason that names it, and have no Job.
    saw_waiting = False
    deadline = time.monotonic() + h.TRAIN_TIMEOUT
    while True:
        operator.check_alive()
        parent = api.get("ParentModel", "gspc")
        if h.condition(parent, "Ready").get("status") == "True":
            break
        for name in children:
            child = api.get("TickerModel", name)
            phase = (child.get("status") or {}).get("phase")
            assert phase in (None, "WaitingForParent"), f"{name} is {phase} before its parent is Ready"
            assert api.jobs(child["metadata"]["uid"]) == [], f"{name} got a Job before its parent was Ready"
            if phase == "WaitingForParent":
                ready = h.condition(child, "ParentReady")
                assert ready["status"] == "False" and ready["reason"] == "WaitingForParent"
                assert "gspc" in ready["message"]
                saw_waiting = True
        if (parent.get("status") or {}).get("phase") == "Failed" or time.monotonic() > deadline:
            pytest.fail(f"parent did not become Ready:\n{show()}\n{h.tail(operator.log)}")
        time.sleep(1.0)
    assert saw_waiting

    parent = api.get("ParentModel", "gspc")
    assert parent["status"]["observedGeneration"] == parent["metadata"]["generation"]
    assert parent["status"]["metrics"]["naiveRmse"] > 0 and "skill" in parent["status"]["metrics"]
    parent_version = parent["status"]["mlflow"]["servingVersion"]
    assert parent["status"]["training"]["progressPercent"] == 100

    for name in children:
        child = h.wait_for(
            f"TickerModel {name} Ready",
            h.phase_is(api, "TickerModel", name, "Ready", "Failed"),
            timeout=h.TRAIN_TIMEOUT,
            operator=operator,
            describe=show,
        )
        status = child["status"]
        assert status["phase"] == "Ready", f"{name}: {json.dumps(status, indent=1)}"
        assert status["parent"]["modelVersion"] == parent_version
        assert isinstance(status["metrics"]["skill"], int | float)  # JSON writes a skill of 0.0 as 0
        assert status["inference"]["url"].startswith("http")  # KServe's external URL
        isvc_name = status["inference"]["name"]
        assert (
            status["inference"]["address"]
            == f"http://{isvc_name}-predictor.{e2e_namespace}.svc.cluster.local"
        )
        assert {c["type"]: c["status"] for c in status["conditions"]} == {
            "ParentReady": "True",
            "Trained": "True",
            "Promoted": "True",
            "ServingReady": "True",
            "Ready": "True",
            "Drifted": "Unknown",  # no monitoring check has run yet
            "Degraded": "Unknown",
        }
        # The served endpoint answers with the version the status names.
        model = status["mlflow"]["modelName"]
        request = urllib.request.Request(
            f"{status['inference']['address']}/v1/models/{model}:predict",
            data=json.dumps({"instances": [{"ticker": child["spec"]["ticker"], "days": 5}]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with e2e_cluster.urlopen(request, timeout=120) as response:  # as a pod would
            answer = json.loads(response.read())["predictions"][0]
        assert answer["model_version"] == status["mlflow"]["servingVersion"]
        assert len(answer["forecast"]) == 5

    assert len(api.isvcs()) == 2
    assert len(api.jobs()) == 3  # one per resource: nothing duplicated

    table = e2e_cluster.kubectl_run("get", "tkm", "-n", e2e_namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "TICKER", "PARENT", "PHASE", "PROGRESS", "SKILL", "READY", "AGE"]
    for row in table[1:]:
        cells = row.split()
        assert cells[2:4] == ["gspc", "Ready"] and cells[4] == "100" and cells[6] == "True"
        float(cells[5])
    wide = e2e_cluster.kubectl_run("get", "tkm", "-n", e2e_namespace, "-o", "wide").stdout
    assert "http://" in wide

    events = e2e_cluster.kubectl_run(
        "get", "events", "-n", e2e_namespace, "--field-selector", "involvedObject.name=aapl", "-o", "json"
    ).stdout
    reasons = {e["reason"] for e in json.loads(events)["items"]}
    assert {
        "PhaseWaitingForParent",
        "JobCreated",
        "PhaseTraining",
        "InferenceServiceCreated",
        "PhaseReady",
    } <= reasons

    # Argo CD's view of the same objects (deploy/argocd health checks): Healthy once Ready; an
    # Analysis no controller has answered yet is Progressing.
    for name in ("gspc", *children):
        obj = api.get("ParentModel" if name == "gspc" else "TickerModel", name)
        assert h.argocd_health(obj)[0] == "Healthy", (name, h.argocd_health(obj))
    h.apply_resource(
        e2e_cluster, e2e_namespace, "Analysis", "aapl-outlook",
        {"tickerModelRef": {"name": "aapl"}, "question": "Where is AAPL heading this week?"},
    )  # fmt: skip
    answered = h.phase_is(api, "Analysis", "aapl-outlook", "Ready", "Failed")
    analysis = h.wait_for(
        "the example Analysis answered", answered, timeout=300, operator=operator, describe=show
    )
    assert analysis["status"]["phase"] == "Ready" and analysis["status"]["stance"] in (
        "BULLISH",
        "BEARISH",
        "NEUTRAL",
    )
    assert h.argocd_health(analysis)[0] == "Healthy"

    metrics = operator.metrics()
    assert 'stockops_operator_objects{kind="TickerModel",phase="Ready"} 2.0' in metrics
    assert "stockops_operator_training_duration_seconds_count" in metrics

    # Deleting a TickerModel: the object goes at once (no finalizer); its Job and InferenceService follow
    # (the operator's cleanup on the DELETED event, or the garbage collector).
    aapl_uid = api.get("TickerModel", "aapl")["metadata"]["uid"]
    e2e_cluster.kubectl_run("delete", "tkm", "aapl", "-n", e2e_namespace, "--wait=true", timeout=120)
    h.wait_for(
        "aapl's Job and InferenceService to go",
        lambda: (
            api.jobs(aapl_uid, component=None) == []
            and [i["metadata"]["name"] for i in api.isvcs()] == ["msft"]
        ),
        timeout=60,
        operator=operator,
    )


def test_ticker_without_data_fails_with_no_data(
    e2e_cluster: Any, e2e_namespace: str, start_operator: Any, harness: Any
) -> None:
    h = harness
    operator = start_operator(e2e_namespace)
    api = h.Api(e2e_cluster, e2e_namespace)
    h.apply_resource(
        e2e_cluster, e2e_namespace, "ParentModel", "nodata", {"ticker": "ZZZZ", "training": {"epochs": 1}}
    )
    failed = h.wait_for(
        "Failed", h.phase_is(api, "ParentModel", "nodata", "Failed"), timeout=300, operator=operator
    )
    ready = h.condition(failed, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "NoData", ready
    assert "ZZZZ" in ready["message"]
    (job,) = api.jobs(failed["metadata"]["uid"])
    assert job.status.failed == 1  # bad data is not retried (podFailurePolicy FailJob)
    warnings = e2e_cluster.kubectl_run(
        "get", "events", "-n", e2e_namespace, "--field-selector", "type=Warning,involvedObject.name=nodata"
    ).stdout
    assert "NoData" in warnings


def test_failing_job_is_retried_then_failed(
    e2e_cluster: Any, e2e_namespace: str, start_operator: Any, harness: Any
) -> None:
    h = harness
    # MLflow unreachable: the trainer fails fast with MlflowUnavailable (exit 1), which the Job retries.
    no_retries = json.dumps({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"})
    operator = start_operator(
        e2e_namespace, mlflow=f"http://127.0.0.1:{h.free_port()}", STOCKOPS_OPERATOR_EXTRA_ENV=no_retries
    )
    api = h.Api(e2e_cluster, e2e_namespace)
    h.apply_resource(
        e2e_cluster,
        e2e_namespace,
        "ParentModel",
        "flaky",
        {
            "ticker": "^GSPC",
            "data": {"start": "2022-01-01"},
            "training": {"epochs": 1, "backoffLimit": 1},
        },
    )
    failed = h.wait_for(
        "Failed", h.phase_is(api, "ParentModel", "flaky", "Failed"), timeout=600, operator=operator
    )
    ready = h.condition(failed, "Ready")
    assert ready["reason"] == "MlflowUnavailable", ready
    assert "unreachable" in ready["message"] and "2 attempt(s), BackoffLimitExceeded" in ready["message"]
    assert failed["status"]["training"]["attempt"] == 2
    # the first attempt's failure was visible while the Job retried: one Warning per failed attempt
    events = e2e_cluster.kubectl_run(
        "get", "events", "-n", e2e_namespace, "--field-selector", "involvedObject.name=flaky", "-o", "json"
    ).stdout
    attempts = [e for e in json.loads(events)["items"] if e["reason"] == "AttemptFailed"]
    assert attempts and "MlflowUnavailable" in attempts[0]["message"] and attempts[0]["type"] == "Warning"
    (job,) = api.jobs(failed["metadata"]["uid"])
    assert job.status.failed == 2
    assert h.argocd_health(failed) == ("Degraded", ready["message"])


def test_operator_killed_mid_training_converges_without_duplicates(
    e2e_cluster: Any, e2e_namespace: str, start_operator: Any, harness: Any
) -> None:
    h = harness
    operator = start_operator(e2e_namespace)
    api = h.Api(e2e_cluster, e2e_namespace)
    h.apply_resource(
        e2e_cluster,
        e2e_namespace,
        "ParentModel",
        "gspc",
        {
            "ticker": "^GSPC",
            "data": {"start": "2005-01-01"},
            "training": {"epochs": 8, "patience": 8},
        },
    )
    h.wait_for("Training", h.phase_is(api, "ParentModel", "gspc", "Training"), timeout=300, operator=operator)
    uid = api.get("ParentModel", "gspc")["metadata"]["uid"]
    (job,) = api.jobs(uid)
    operator.kill()

    # A child applied while no operator runs is picked up after the restart.
    h.apply_resource(
        e2e_cluster,
        e2e_namespace,
        "TickerModel",
        "msft",
        {
            "ticker": "MSFT",
            "parentRef": {"name": "gspc"},
            "data": {"start": "2018-01-01"},
            "transfer": {"epochs": 1},
            "serving": {"enabled": False},
        },
    )
    restarted = start_operator(e2e_namespace)
    ready = h.wait_for(
        "parent Ready after restart",
        h.phase_is(api, "ParentModel", "gspc", "Ready", "Failed"),
        timeout=h.TRAIN_TIMEOUT,
        operator=restarted,
    )
    assert ready["status"]["phase"] == "Ready"
    jobs = api.jobs(uid)
    assert [j.metadata.uid for j in jobs] == [job.metadata.uid]  # the same Job, never a second one
    done = h.wait_for(
        "child Ready",
        h.phase_is(api, "TickerModel", "msft", "Ready", "Failed"),
        timeout=h.TRAIN_TIMEOUT,
        operator=restarted,
    )
    assert done["status"]["phase"] == "Ready"
    assert len(api.jobs(done["metadata"]["uid"])) == 1


def _drifted_prices(ohlcv_dir: Path, out: Path, ticker: str, sessions: int = 80) -> Path:
    """Real prices since 2015 whose newest `sessions` days turn into a slide (daily log returns x2,
    minus 1.5 %, volume x4): the served model's inputs really drift, no test switch involved."""
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(ohlcv_dir / f"{ticker}.csv", parse_dates=["Date"])
    frame = frame[frame["Date"] >= "2015-01-01"].reset_index(drop=True)
    close = frame["Close"].to_numpy(dtype=float)
    returns = np.diff(np.log(close), prepend=np.log(close[0]))
    returns[-sessions:] = 2.0 * returns[-sessions:] - 0.015
    factor = np.exp(np.cumsum(returns)) * close[0] / close
    for column in ("Open", "High", "Low", "Close", "Adj Close"):
        frame[column] = frame[column] * factor
    frame.loc[frame.index[-sessions:], "Volume"] *= 4
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / f"{ticker}.csv", index=False, date_format="%Y-%m-%d")
    return out


def test_monitoring_checks_on_schedule_and_a_drifted_model_retrains_once_and_rolls(
    e2e_cluster: Any,
    e2e_namespace: str,
    start_operator: Any,
    harness: Any,
    repo_root: Path,
    ohlcv_dir: Path,
    tmp_path: Path,
) -> None:
    h = harness
    drifted = _drifted_prices(ohlcv_dir, tmp_path / "drifted", "AAPL")
    _drifted_prices(ohlcv_dir, drifted, "MSFT")  # one registered model per ticker: one ticker each
    operator = start_operator(e2e_namespace)
    api = h.Api(e2e_cluster, e2e_namespace)
    e2e_cluster.kubectl_run(
        "apply", "-n", e2e_namespace, "-f", str(repo_root / "examples/parentmodel-gspc.yaml")
    )
    child = {
        "ticker": "AAPL",
        "parentRef": {"name": "gspc"},
        "data": {"source": "csv", "csvPath": str(drifted), "start": "2015-01-01"},
        "transfer": {"strategy": "fine-tune", "epochs": 1},
        "training": {"batchSize": 128, "seed": 42},
    }
    # one model checked every minute (not served: a check reads the registry, not the predictor) ...
    watched = {
        **child,
        "ticker": "MSFT",
        "serving": {"enabled": False},
        "monitoring": {"schedule": "* * * * *"},
    }
    h.apply_resource(e2e_cluster, e2e_namespace, "TickerModel", "msft-watch", watched)
    # ... and one that retrains on drift, checked on demand
    retrained = {**child, "retrain": {"onDrift": True, "minIntervalMinutes": 1}}
    h.apply_resource(e2e_cluster, e2e_namespace, "TickerModel", "aapl-drift", retrained)

    def show() -> str:
        return e2e_cluster.kubectl_run("get", "tkm", "-n", e2e_namespace, "-o", "yaml", check=False).stdout

    first = h.wait_for(
        "aapl-drift Ready",
        h.phase_is(api, "TickerModel", "aapl-drift", "Ready", "Failed"),
        timeout=h.TRAIN_TIMEOUT,
        operator=operator,
        describe=show,
    )
    assert first["status"]["phase"] == "Ready", json.dumps(first["status"], indent=1)
    served = first["status"]["mlflow"]["servingVersion"]
    e2e_cluster.kubectl_run(
        "annotate", "tkm", "aapl-drift", "-n", e2e_namespace, "stockops.io/monitor=1", "--overwrite"
    )

    def drift_checked(name: str) -> Callable[[], dict[str, Any] | None]:
        def check() -> dict[str, Any] | None:
            obj = api.get("TickerModel", name)
            monitoring = (obj.get("status") or {}).get("monitoring") or {}
            done = monitoring.get("lastCheckTime") and (monitoring.get("drift") or monitoring.get("failure"))
            return obj if done else None

        return check

    watch = h.wait_for(
        "a scheduled check of msft-watch",
        drift_checked("msft-watch"),
        timeout=h.TRAIN_TIMEOUT,
        operator=operator,
        describe=show,
    )
    monitoring = watch["status"]["monitoring"]
    assert "failure" not in monitoring, monitoring
    assert monitoring["scheduledAt"].endswith(":00Z") and monitoring["jobName"].startswith("msft-watch-mon-")
    drift = monitoring["drift"]
    assert drift["verdict"] == "Drifted" and drift["share"] >= 0.5, drift
    assert "volatility_20" in drift["driftedFeatures"] and drift["reportUri"].endswith("drift.html")
    assert drift["modelVersion"] == watch["status"]["mlflow"]["servingVersion"]
    # no Redis forecast log in this cluster: the live check says why it cannot score anything
    assert monitoring["live"]["verdict"] == "InsufficientData"
    assert "no forecast log configured" in monitoring["live"]["message"]
    assert h.condition(watch, "Drifted")["status"] == "True"
    assert h.condition(watch, "Degraded")["status"] == "Unknown"
    assert h.condition(watch, "Ready")["status"] == "True"  # a drifted model still serves

    uid = first["metadata"]["uid"]

    def rolled() -> dict[str, Any] | None:
        obj = api.get("TickerModel", "aapl-drift")
        status = obj.get("status") or {}
        training = status.get("training") or {}
        new = (status.get("mlflow") or {}).get("servingVersion")
        fresh = training.get("reason") == "Drift" and training.get("completionTime") and new != served
        ready = status.get("phase") == "Ready" and (status.get("inference") or {}).get("modelVersion") == new
        return obj if fresh and ready else None

    after = h.wait_for("aapl-drift retrained on drift and rolled", rolled, timeout=h.TRAIN_TIMEOUT,
                     operator=operator, describe=show)  # fmt: skip
    new_version = after["status"]["mlflow"]["servingVersion"]
    (isvc,) = [i for i in api.isvcs() if i["metadata"]["name"] == "aapl-drift"]
    env = {e["name"]: e.get("value") for e in isvc["spec"]["predictor"]["containers"][0]["env"]}
    assert env["STOCKOPS_MODEL_VERSION"] == new_version
    assert after["status"]["training"]["checkTime"] == after["status"]["monitoring"]["drift"]["checkedAt"]
    time.sleep(15)  # more timer passes: the answered verdict must not start another training
    assert len(api.jobs(uid)) == 2, [j.metadata.name for j in api.jobs(uid)]
    assert len(api.jobs(uid, component="monitor")) == 1

    events = e2e_cluster.kubectl_run(
        "get",
        "events",
        "-n",
        e2e_namespace,
        "--field-selector",
        "involvedObject.name=aapl-drift",
        "-o",
        "json",
    ).stdout
    items = json.loads(events)["items"]
    assert any(e["reason"] == "InputDrift" and e["type"] == "Warning" for e in items)
    assert any(e["reason"] == "JobCreated" and "(reason Drift)" in e["message"] for e in items)
    metrics = operator.metrics()
    assert 'stockops_operator_retrains_total{kind="TickerModel",reason="Drift"} 1.0' in metrics
    shares = [line for line in metrics.splitlines() if line.startswith("stockops_model_drift_share{")]
    assert any('name="msft-watch"' in line and 'ticker="MSFT"' in line for line in shares), shares
