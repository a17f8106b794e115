"""Cluster mode's pure half: what the gateway writes (a TickerModel the CRD accepts, one Analysis per
question) and what it reads back (a task's phase, progress, metrics and report from a status)."""

from __future__ import annotations

from typing import Any

import pytest

from stockops.crd.analysis import AnalysisSpec
from stockops.crd.ticker_model import TickerModelSpec
from stockops.gateway import cluster_resources as res
from stockops.gateway.names import TaskId
from stockops.gateway.schemas import TrainingOptions
from stockops.gateway.template import fill_child, load_template


def ticker_model(status: dict[str, Any] | None = None, generation: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": "aapl", "generation": generation, "creationTimestamp": "2026-12-01T10:00:00Z"},
        "spec": {"ticker": "AAPL", "parentRef": {"name": "gspc"}, "model": {"horizonDays": 5}},
        "status": status or {},
    }


READY = {
    "observedGeneration": 1,
    "phase": "Ready",
    "conditions": [
        {"type": "Ready", "status": "True", "reason": "Serving", "message": "serving version 2"},
        {"type": "Trained", "status": "True", "reason": "Promoted", "message": "skill 0.01"},
    ],
    "training": {"epoch": 3, "epochs": 3, "progressPercent": 100},
    "metrics": {
        "skill": 0.012,
        "skillLow": -0.004,
        "skillHigh": 0.03,
        "naiveRmse": 2.5,
        "rmse": 2.47,
        "noEdge": False,
        "perHorizon": [{"horizon": 1, "skill": 0.02, "skillLow": 0.0, "skillHigh": 0.04, "rmse": 1.9}],
    },
    "mlflow": {"modelName": "stockops-aapl", "servingVersion": "2"},
    "inference": {"ready": True, "url": "http://aapl-predictor.models.svc", "modelVersion": "2"},
}


def test_a_new_tickers_resource_is_the_template_filled_and_valid_for_the_crd() -> None:
    template = load_template(None, "TickerModel")
    manifest = res.for_cluster(fill_child(template, "BRK.B", "^GSPC", TrainingOptions(epochs=4)))
    assert manifest["metadata"]["name"] == "brk-b"
    assert manifest["metadata"]["labels"][res.CREATED_BY_LABEL] == res.CREATED_BY
    assert manifest["metadata"]["annotations"][res.TICKER_ANNOTATION] == "BRK.B"
    # The CRD has no parentTicker: a strict API server would refuse the field.
    assert "parentTicker" not in manifest["spec"]
    spec = TickerModelSpec.model_validate(manifest["spec"])
    assert (spec.ticker, spec.parent_ref.name, spec.transfer and spec.transfer.epochs) == ("BRK.B", "gspc", 4)


def test_one_analysis_per_model_and_question_whatever_its_spacing_or_case() -> None:
    a = res.analysis_manifest("aapl", "Where is AAPL heading?", ticker="AAPL")
    b = res.analysis_manifest("aapl", "  where is aapl   HEADING? ", ticker="AAPL")
    c = res.analysis_manifest("aapl", "Should I worry about volatility?", ticker="AAPL")
    assert a["metadata"]["name"] == b["metadata"]["name"] != c["metadata"]["name"]
    AnalysisSpec.model_validate(a["spec"])
    long = res.analysis_name("x" * 63, "q?")
    assert len(long) <= 63 and long[-1] != "-"


def test_a_ready_ticker_model_is_a_done_task_with_metrics_under_the_api_names() -> None:
    task = res.resource_task(TaskId("tickermodel", "aapl", 1), ticker_model(READY))
    assert (task.phase, task.done, task.progress, task.ticker) == ("Ready", True, 100, "AAPL")
    assert task.metrics is not None
    assert (task.metrics.skill, task.metrics.skill_ci_low, task.metrics.skill_ci_high) == (
        0.012,
        -0.004,
        0.03,
    )
    assert task.metrics.per_horizon[0].step == 1 and task.metrics.per_horizon[0].skill_ci_high == 0.04
    assert [c.type for c in task.conditions] == ["Ready", "Trained"]
    assert task.message == "serving version 2"
    assert (task.model_name, task.model_version) == ("stockops-aapl", "2")


def test_a_status_of_an_older_generation_is_pending_not_the_old_answer() -> None:
    """The spec changed (generation 2) and the operator has not caught up: the old Ready is not it."""
    obj = ticker_model(READY, generation=2)
    task = res.resource_task(TaskId("tickermodel", "aapl", 2), obj)
    assert (task.phase, task.done, task.metrics, task.conditions) == ("Pending", False, None, [])
    assert "not picked up" in task.message


def test_an_older_task_of_a_resource_that_moved_on_says_so() -> None:
    obj = ticker_model({**READY, "observedGeneration": 3}, generation=3)
    task = res.resource_task(TaskId("tickermodel", "aapl", 1), obj)
    assert task.phase == "Ready" and "superseded by generation 3" in task.message


def test_a_training_reports_epochs_and_percent() -> None:
    status = {
        "observedGeneration": 1,
        "phase": "Training",
        "training": {"epoch": 2, "epochs": 5, "progressPercent": 40},
    }
    task = res.resource_task(TaskId("tickermodel", "aapl", 1), ticker_model(status))
    assert (task.phase, task.done, task.progress, task.epoch, task.epochs) == ("Training", False, 40, 2, 5)


def test_a_ready_analysis_carries_its_report() -> None:
    obj = {
        "metadata": {
            "name": "aapl-0123456789",
            "generation": 1,
            "annotations": {res.TICKER_ANNOTATION: "AAPL"},
        },
        "spec": {"tickerModelRef": {"name": "aapl"}, "question": "Up?"},
        "status": {
            "observedGeneration": 1,
            "phase": "Ready",
            "stance": "NEUTRAL",
            "confidence": "LOW",
            "summary": "No edge.",
            "generator": "template",
            "cached": False,
            "criticScore": 1.0,
            "modelVersion": "2",
        },
    }
    task = res.resource_task(TaskId("analysis", "aapl-0123456789", 1), obj, "# AAPL\nNo edge.")
    assert task.done and task.ticker == "AAPL" and task.metrics is None
    assert task.result is not None
    assert (task.result.stance, task.result.confidence, task.result.markdown) == (
        "NEUTRAL",
        "LOW",
        "# AAPL\nNo edge.",
    )


def test_where_the_predictor_answers_only_once_ready() -> None:
    assert res.inference_url(ticker_model(READY)) == "http://aapl-predictor.models.svc"
    not_ready = {**READY, "inference": {**READY["inference"], "ready": False}}
    assert res.inference_url(ticker_model(not_ready)) is None
    # The gateway is a pod: the in-cluster address wins over KServe's external (ingress) URL.
    both = {**READY, "inference": {**READY["inference"], "url": "http://aapl-models.example.com",
                                   "address": "http://aapl-predictor.models.svc.cluster.local"}}  # fmt: skip
    assert res.inference_url(ticker_model(both)) == "http://aapl-predictor.models.svc.cluster.local"
    assert res.predict_url("http://p.svc/", "stockops-aapl") == "http://p.svc/v1/models/stockops-aapl:predict"
    assert res.horizon_of(ticker_model(READY)) == 5


@pytest.mark.parametrize(
    ("kind", "expected"), [("child", "tickermodel/aapl/1"), ("parent", "parentmodel/aapl/1")]
)
def test_a_tickers_row(kind: str, expected: str) -> None:
    row = res.ticker_summary(ticker_model(READY), kind)
    assert (row.ticker, row.phase, row.skill, row.model_version, row.task_id) == (
        "AAPL",
        "Ready",
        0.012,
        "2",
        expected,
    )
