"""The operator fetches an analysis report from a real MLflow server over HTTP (no mlflow package).

The report is logged the way the agent logs it (`MlflowClient.log_artifact` into ``analysis/`` of a run,
through the server's proxied artifact store); the reader must return its exact text from the server's
``/get-artifact`` route, the link the status shows must download the same text, and anything missing or
unreachable must read as None (the operator then retries), never raise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from stockops.operator.analysis import artifact_location, report_uri
from stockops.operator.mlflow_reports import MlflowReportReader

pytestmark = pytest.mark.component

REPORT = "# AAPL: NEUTRAL (LOW)\n\nSkill 0.01 [−0.02, 0.04] — indistinguishable from the random walk…\n"


def _logged_report(uri: str, tmp_path: Path) -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("stockops-report-test")
    experiment_id = (
        experiment.experiment_id if experiment else client.create_experiment("stockops-report-test")
    )
    run = client.create_run(experiment_id, tags={"stockops.kind": "analysis"})
    path = tmp_path / "report.md"
    path.write_text(REPORT, encoding="utf-8")
    client.log_artifact(run.info.run_id, str(path), "analysis")
    client.set_terminated(run.info.run_id, "FINISHED")
    return str(run.info.run_id)


def test_the_report_the_agent_logged_is_read_back_exactly(mlflow_server: str, tmp_path: Path) -> None:
    run_id = _logged_report(mlflow_server, tmp_path)
    location = artifact_location(f"runs:/{run_id}/analysis/report.md", run_id)
    assert location == (run_id, "analysis/report.md")
    reader = MlflowReportReader(mlflow_server)
    assert reader.fetch(*location) == REPORT
    # the link status.report.uri shows downloads the same text
    link = report_uri(mlflow_server, location)
    assert link is not None
    response = requests.get(link, timeout=10)
    assert response.status_code == 200 and response.content.decode("utf-8") == REPORT


def test_a_missing_artifact_run_or_server_is_none(mlflow_server: str, tmp_path: Path, loopback: Any) -> None:
    run_id = _logged_report(mlflow_server, tmp_path)
    reader = MlflowReportReader(mlflow_server)
    assert reader.fetch(run_id, "analysis/nothing.md") is None
    assert reader.fetch("0123456789abcdef0123456789abcdef", "analysis/report.md") is None
    assert (
        MlflowReportReader(f"http://127.0.0.1:{loopback.free_port()}", timeout=2).fetch(run_id, "x") is None
    )
    assert MlflowReportReader("file:///tmp/mlruns").fetch(run_id, "analysis/report.md") is None
