"""Analysis end to end: the example Analysis beside the examples it asks about ends Ready with a stance.

Real parts only: the kube-apiserver with PodSecurity ``restricted`` enforced in the namespace, a real
`mlflow server`, the real trainer, predictor and agent (`python -m stockops.agent`, run by the test
cluster's node agent or a real cluster), real prices. The operator runs as the `stockops-operator`
user bound only to
deploy/rbac/operator.yaml's ClusterRole (the report ConfigMap needs its configmaps rule). The template
writer answers (no LLM in the cluster); the unreachable-LLM case points the agent at a closed port.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client

TRAIN_TIMEOUT = 900.0
AGENT_TIMEOUT = 300.0
STANCES = {"BULLISH", "BEARISH", "NEUTRAL"}
# Deterministic agent runs: no news lookups from the test machine; one retry of an unreachable LLM.
OPERATOR_ENV = {
    "STOCKOPS_OPERATOR_EXTRA_ENV": json.dumps(
        {"STOCKOPS_NEWS_SOURCE": "none", "STOCKOPS_LLM_MAX_RETRIES": "0"}
    ),
    "STOCKOPS_OPERATOR_AGENT_BACKOFF_LIMIT": "1",
}


def _events(cluster: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    text = cluster.kubectl_run(
        "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}", "-o", "json"
    ).stdout
    return list(json.loads(text)["items"])


def test_an_analysis_beside_the_examples_ends_ready_with_a_stance_and_its_report(
    e2e_cluster: Any, e2e_namespace: str, start_operator: Any, harness: Any, repo_root: Path
) -> None:
    h = harness
    operator = start_operator(e2e_namespace, **OPERATOR_ENV)
    api = h.Api(e2e_cluster, e2e_namespace)
    ns = e2e_namespace

    def show() -> str:
        return e2e_cluster.kubectl_run("get", "an,tkm,pm", "-n", ns, "-o", "yaml", check=False).stdout

    # An Analysis of a TickerModel that does not exist waits with a reason that says so.
    h.apply_resource(
        e2e_cluster,
        ns,
        "Analysis",
        "nosuch",
        {"tickerModelRef": {"name": "nosuch"}, "question": "Up or down?"},
    )
    orphan = h.wait_for(
        "the orphan Analysis Pending",
        h.phase_is(api, "Analysis", "nosuch", "Pending"),
        timeout=120,
        operator=operator,
        describe=show,
    )
    ready = h.condition(orphan, "ModelReady")
    assert (ready["status"], ready["reason"]) == ("False", "TickerModelNotFound"), ready
    assert "TickerModel 'nosuch' not found" in ready["message"]
    assert h.argocd_health(orphan)[0] == "Progressing"

    for example in ("parentmodel-gspc.yaml", "tickermodel-aapl.yaml", "analysis-aapl.yaml"):
        e2e_cluster.kubectl_run("apply", "-n", ns, "-f", str(repo_root / "examples" / example))

    waiting = h.wait_for(
        "the example Analysis waiting for aapl",
        h.phase_is(api, "Analysis", "aapl-outlook", "Pending"),
        timeout=120,
        operator=operator,
        describe=show,
    )
    assert h.condition(waiting, "ModelReady")["reason"] == "ModelNotReady"
    assert api.jobs(waiting["metadata"]["uid"], component=None) == []  # no Job before the model is Ready

    answered = h.wait_for(
        "the example Analysis answered",
        h.phase_is(api, "Analysis", "aapl-outlook", "Ready", "Failed"),
        timeout=2 * TRAIN_TIMEOUT,
        operator=operator,
        describe=show,
    )
    status = answered["status"]
    assert status["phase"] == "Ready", json.dumps(status, indent=1)
    tm = api.get("TickerModel", "aapl")["status"]
    assert status["stance"] in STANCES and status["confidence"] in {"LOW", "MEDIUM", "HIGH"}
    assert status["ticker"] == "AAPL" and status["modelVersion"] == tm["mlflow"]["servingVersion"]
    assert status["modelName"] == tm["mlflow"]["modelName"] and len(status["dataDate"]) == 10
    assert status["generator"] == "template" and status["cached"] is False
    assert status["cache"].startswith("off: no Qdrant URL in this cluster")
    assert 0.0 <= status["criticScore"] <= 1.0 and status["revisions"] >= 0
    assert 0 < len(status["summary"]) <= 400
    assert status["observedGeneration"] == answered["metadata"]["generation"]
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions == {
        "ModelReady": ("True", "ModelReady"),
        "Answered": ("True", "Answered"),
        "Ready": ("True", "Ready"),
    }
    report = status["report"]
    assert report["configMap"] == "aapl-outlook-report" and report["complete"] is True
    assert report["artifact"] == f"runs:/{report['mlflowRunId']}/analysis/report.md"
    assert h.argocd_health(answered)[0] == "Healthy"

    # `kubectl get an` tells the answer on its own
    table = e2e_cluster.kubectl_run("get", "an", "aapl-outlook", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "TICKER", "STANCE", "CONFIDENCE", "PHASE", "AGE"]
    assert table[1].split()[:5] == ["aapl-outlook", "AAPL", status["stance"], status["confidence"], "Ready"]
    wide = e2e_cluster.kubectl_run("get", "an", "aapl-outlook", "-n", ns, "-o", "wide").stdout
    assert "template" in wide and status["modelVersion"] in wide.splitlines()[1].split()

    # the report ConfigMap (written by the operator, owned by the Analysis) has the whole report
    config_map = api.config_map("aapl-outlook-report")
    assert config_map is not None
    assert config_map.metadata.owner_references[0].uid == answered["metadata"]["uid"]
    assert (
        config_map.data["report.md"].startswith("# AAPL")
        and "## What the model cannot know" in config_map.data["report.md"]
    )
    assert json.loads(config_map.data["result.json"])["stance"] == status["stance"]

    # the agent pod ran restricted, with no service account token
    (job,) = api.jobs(answered["metadata"]["uid"], component="analysis")
    assert job.metadata.name == status["jobName"] and job.metadata.name.startswith("aapl-outlook-an-g1-")
    (pod,) = api.pods(job.metadata.name)
    assert pod.spec.automount_service_account_token is False
    assert not any(v.projected for v in pod.spec.volumes or [])  # nothing mounted the API token
    assert pod.spec.security_context.run_as_non_root is True
    assert pod.spec.containers[0].security_context.read_only_root_filesystem is True

    reasons = {e["reason"] for e in _events(e2e_cluster, ns, "aapl-outlook")}
    assert {"PhasePending", "JobCreated", "PhaseRunning", "ReportWritten", "PhaseReady"} <= reasons
    assert 'stockops_operator_objects{kind="Analysis",phase="Ready"} 1.0' in operator.metrics()

    # A new question is a new answer, from a new Job.
    e2e_cluster.kubectl_run(
        "patch", "an", "aapl-outlook", "-n", ns, "--type", "merge",
        "-p", json.dumps({"spec": {"question": "Should I worry about volatility?"}}),
    )  # fmt: skip

    def reanswered() -> dict[str, Any] | None:
        obj = api.get("Analysis", "aapl-outlook")
        st = obj.get("status") or {}
        return obj if st.get("observedGeneration") == 2 and st.get("phase") in ("Ready", "Failed") else None

    second = h.wait_for(
        "the new question answered", reanswered, timeout=AGENT_TIMEOUT, operator=operator, describe=show
    )
    assert second["status"]["phase"] == "Ready", json.dumps(second["status"], indent=1)
    assert second["status"]["jobName"].startswith("aapl-outlook-an-g2-")
    assert second["status"]["report"]["mlflowRunId"] != report["mlflowRunId"]
    assert len(api.jobs(answered["metadata"]["uid"], component="analysis")) == 2

    # Deleting the Analysis removes its Jobs and its report ConfigMap.
    e2e_cluster.kubectl_run("delete", "an", "aapl-outlook", "-n", ns, "--wait=true", timeout=120)
    h.wait_for(
        "the report ConfigMap to go", lambda: api.config_map("aapl-outlook-report") is None, timeout=60
    )
    assert api.jobs(answered["metadata"]["uid"], component=None) == []

    # A Secret without the key: the pod cannot start and the condition says what to add; once the key is
    # there the agent runs, finds the LLM unreachable, is retried, and fails with LLMUnavailable.
    core = k8s_client.CoreV1Api(e2e_cluster.admin)
    core.create_namespaced_secret(ns, {"metadata": {"name": "llm"}, "stringData": {"other": "x"}})
    dead = f"http://127.0.0.1:{h.free_port()}/v1"
    h.apply_resource(
        e2e_cluster, ns, "Analysis", "keyless",
        {"tickerModelRef": {"name": "aapl"}, "question": "Up or down?",
         "llm": {"endpoint": dead, "model": "tiny", "secretRef": {"name": "llm"}}},
    )  # fmt: skip

    def answered_is(reason: str) -> Any:
        def check() -> dict[str, Any] | None:
            obj = api.get("Analysis", "keyless")
            return obj if h.condition(obj, "Answered").get("reason") == reason else None

        return check

    blocked = h.wait_for(
        "SecretKeyMissing",
        answered_is("SecretKeyMissing"),
        timeout=AGENT_TIMEOUT,
        operator=operator,
        describe=show,
    )
    assert blocked["status"]["phase"] == "Pending" and h.condition(blocked, "Answered")["status"] == "False"
    assert "add key 'apiKey'" in h.condition(blocked, "Answered")["message"]
    assert h.argocd_health(blocked)[0] == "Degraded"
    assert "stance" not in blocked["status"]
    core.patch_namespaced_secret("llm", ns, {"stringData": {"apiKey": "not-a-real-key"}})
    failed = h.wait_for(
        "LLMUnavailable",
        h.phase_is(api, "Analysis", "keyless", "Failed"),
        timeout=AGENT_TIMEOUT,
        operator=operator,
        describe=show,
    )
    ready = h.condition(failed, "Ready")
    assert ready["reason"] == "LLMUnavailable", ready
    assert "2 attempt(s), BackoffLimitExceeded" in ready["message"]
    assert failed["status"]["attempt"] == 2 and "stance" not in failed["status"]
    assert api.config_map("keyless-report") is None  # nothing half-written
    warnings = [e for e in _events(e2e_cluster, ns, "keyless") if e["type"] == "Warning"]
    assert {"SecretKeyMissing", "AttemptFailed", "PhaseFailed"} <= {e["reason"] for e in warnings}
    assert h.argocd_health(failed) == ("Degraded", ready["message"])
