"""The CRDs reject invalid resources at the API server, with messages that name the field.

Runs against the real kube-apiserver (local test server or a cluster): schema ranges, patterns, enums,
required fields, formats, unknown fields and the CEL rules (including the transition rule that makes
`ticker` immutable). No operator is needed: validation is the API server's job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

PARENT = {"apiVersion": "stockops.io/v1alpha1", "kind": "ParentModel", "metadata": {"name": "bad"}}
TICKER = {"apiVersion": "stockops.io/v1alpha1", "kind": "TickerModel", "metadata": {"name": "bad"}}
ANALYSIS = {"apiVersion": "stockops.io/v1alpha1", "kind": "Analysis", "metadata": {"name": "bad"}}
CHILD = {"ticker": "AAPL", "parentRef": {"name": "gspc"}}

# (id, resource, spec, text the API server's message must contain)
INVALID: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("lowercase-ticker", PARENT, {"ticker": "gspc"}, "spec.ticker"),
    ("ticker-too-long", PARENT, {"ticker": "ABCDEFGHIJKLMNOPQ"}, "spec.ticker"),
    ("horizon-not-below-context", PARENT, {"model": {"contextDays": 10, "horizonDays": 10}}, "smaller than"),
    ("horizon-vs-default-context", PARENT, {"model": {"horizonDays": 60, "contextDays": 60}}, "smaller than"),
    ("horizon-too-long", PARENT, {"model": {"horizonDays": 61}}, "spec.model.horizonDays"),
    ("context-too-short", PARENT, {"model": {"contextDays": 4}}, "spec.model.contextDays"),
    ("dropout-too-high", PARENT, {"model": {"dropout": 0.95}}, "spec.model.dropout"),
    ("unknown-architecture", PARENT, {"model": {"architecture": "gru"}}, "spec.model.architecture"),
    ("zero-epochs", PARENT, {"training": {"epochs": 0}}, "spec.training.epochs"),
    ("zero-learning-rate", PARENT, {"training": {"learningRate": 0}}, "spec.training.learningRate"),
    ("huge-batch", PARENT, {"training": {"batchSize": 5000}}, "spec.training.batchSize"),
    (
        "short-deadline",
        PARENT,
        {"training": {"activeDeadlineSeconds": 5}},
        "spec.training.activeDeadlineSeconds",
    ),
    ("too-many-gpus", PARENT, {"resources": {"gpu": 9}}, "spec.resources.gpu"),
    ("bad-memory-quantity", PARENT, {"resources": {"memory": "lots"}}, "spec.resources.memory"),
    ("unknown-data-source", PARENT, {"data": {"source": "s3"}}, "spec.data.source"),
    ("csv-without-path", PARENT, {"data": {"source": "csv"}}, "csvPath is required"),
    ("start-after-end", PARENT, {"data": {"start": "2020-01-01", "end": "2019-01-01"}}, "before data.end"),
    ("impossible-date", PARENT, {"data": {"start": "2020-13-45"}}, "spec.data.start"),
    ("bad-cron", PARENT, {"retrain": {"schedule": "every day"}}, "spec.retrain.schedule"),
    ("bad-toleration", PARENT, {"scheduling": {"tolerations": [{"operator": "Maybe"}]}}, "operator"),
    ("bad-pull-policy", PARENT, {"image": {"pullPolicy": "Sometimes"}}, "spec.image.pullPolicy"),
    ("suspend-not-bool", PARENT, {"suspend": "yes"}, "spec.suspend"),
    ("unknown-field", PARENT, {"epochs": 3}, "epochs"),
    ("missing-parent-ref", TICKER, {"ticker": "AAPL"}, "parentRef"),
    ("missing-ticker", TICKER, {"parentRef": {"name": "gspc"}}, "spec.ticker"),
    ("bad-parent-name", TICKER, {**CHILD, "parentRef": {"name": "Bad_Name"}}, "spec.parentRef.name"),
    ("unknown-strategy", TICKER, {**CHILD, "transfer": {"strategy": "thaw"}}, "spec.transfer.strategy"),
    ("zero-replicas", TICKER, {**CHILD, "serving": {"replicas": 0}}, "spec.serving.replicas"),
    ("gate-above-one", TICKER, {**CHILD, "promotion": {"minSkill": 2}}, "spec.promotion.minSkill"),
    ("one-fold", PARENT, {"evaluation": {"walkForwardFolds": 1}}, "spec.evaluation.walkForwardFolds"),
    (
        "eleven-folds",
        TICKER,
        {**CHILD, "evaluation": {"walkForwardFolds": 11}},
        "spec.evaluation.walkForwardFolds",
    ),
    ("no-members", PARENT, {"training": {"ensembleMembers": 0}}, "spec.training.ensembleMembers"),
    ("negative-l2sp", TICKER, {**CHILD, "transfer": {"l2SP": -1}}, "spec.transfer.l2SP"),
    ("empty-question", ANALYSIS, {"tickerModelRef": {"name": "aapl"}, "question": ""}, "spec.question"),
    (
        "ftp-llm",
        ANALYSIS,
        {"tickerModelRef": {"name": "aapl"}, "question": "q", "llm": {"endpoint": "ftp://x"}},
        "spec.llm.endpoint",
    ),
    ("missing-model-ref", ANALYSIS, {"question": "Will AAPL rise?"}, "tickerModelRef"),
]


def _apply(e2e_cluster: Any, namespace: str, document: dict[str, Any], *, dry_run: bool = True) -> Any:
    args = ["apply", "-n", namespace, "-f", "-"]
    if dry_run:
        args.append("--dry-run=server")
    return e2e_cluster.kubectl_run(*args, input=yaml.safe_dump(document), check=False)


def test_at_least_twenty_invalid_resources_are_covered() -> None:
    assert len(INVALID) >= 20


@pytest.mark.parametrize(
    ("resource", "spec", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_api_server_rejects_invalid_resource(
    e2e_cluster: Any, e2e_namespace: str, resource: dict[str, Any], spec: dict[str, Any], expected: str
) -> None:
    result = _apply(e2e_cluster, e2e_namespace, {**resource, "spec": spec})
    assert result.returncode != 0, f"accepted: {spec}\n{result.stdout}"
    assert expected in result.stderr, result.stderr


def test_examples_are_accepted(e2e_cluster: Any, e2e_namespace: str, repo_root: Path) -> None:
    for path in sorted((repo_root / "examples").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            result = _apply(e2e_cluster, e2e_namespace, document)
            assert result.returncode == 0, f"{path.name}: {result.stderr}"


def test_parent_ticker_defaults_to_the_index(e2e_cluster: Any, e2e_namespace: str) -> None:
    _apply(e2e_cluster, e2e_namespace, {**PARENT, "metadata": {"name": "plain"}, "spec": {}}, dry_run=False)
    got = e2e_cluster.kubectl_run("get", "pm", "plain", "-n", e2e_namespace, "-o", "jsonpath={.spec.ticker}")
    assert got.stdout == "^GSPC"


def test_ticker_is_immutable(e2e_cluster: Any, e2e_namespace: str) -> None:
    created = _apply(
        e2e_cluster, e2e_namespace, {**TICKER, "metadata": {"name": "aapl"}, "spec": CHILD}, dry_run=False
    )
    assert created.returncode == 0, created.stderr
    changed = {**TICKER, "metadata": {"name": "aapl"}, "spec": {**CHILD, "ticker": "MSFT"}}
    result = _apply(e2e_cluster, e2e_namespace, changed, dry_run=False)
    assert result.returncode != 0
    assert "ticker is immutable" in result.stderr


def test_short_names_and_category_resolve(e2e_cluster: Any, e2e_namespace: str) -> None:
    msft = {**TICKER, "metadata": {"name": "msft"}, "spec": {**CHILD, "ticker": "MSFT"}}
    _apply(e2e_cluster, e2e_namespace, msft, dry_run=False)
    for name in ("tkm", "pm", "an", "stockops"):
        result = e2e_cluster.kubectl_run("get", name, "-n", e2e_namespace, check=False)
        assert result.returncode == 0, f"kubectl get {name}: {result.stderr}"
    listed = e2e_cluster.kubectl_run("get", "stockops", "-n", e2e_namespace, "-o", "name").stdout
    assert "tickermodel.stockops.io/msft" in listed
    header = e2e_cluster.kubectl_run("get", "tkm", "-n", e2e_namespace).stdout.splitlines()[0].split()
    assert header == ["NAME", "TICKER", "PARENT", "PHASE", "PROGRESS", "SKILL", "READY", "AGE"]
    wide_table = e2e_cluster.kubectl_run("get", "tkm", "-n", e2e_namespace, "-o", "wide").stdout
    wide = wide_table.splitlines()[0].split()
    assert wide[-3:] == ["URL", "DRIFTED", "VERSION"]
    explained = e2e_cluster.kubectl_run("explain", "tickermodel.spec.transfer.strategy").stdout
    assert "freeze" in explained and "fine-tune" in explained
