"""One analysis end to end with the template writer: a tiny model trained through the real pipeline,
real Qdrant local storage for the semantic cache, the CLI, the predictor path (a real `stockops serve`
predictor on loopback) and the Job against a real MLflow server (report and result as artifacts, the
termination message < 4 KiB)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stockops.agent.report import REQUIRED_SECTIONS

pytestmark = pytest.mark.component

QUESTION = "Should I worry about volatility this week?"


def agent_env(home: Path, ohlcv_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "STOCKOPS_HOME": str(home),
        "STOCKOPS_DATA_SOURCE": f"csv:{ohlcv_dir}",
        "STOCKOPS_NEWS_SOURCE": "none",
        **extra,
    }
    for name in (
        "MLFLOW_TRACKING_URI",
        "STOCKOPS_MLFLOW_TRACKING_URI",
        "STOCKOPS_LLM_ENDPOINT",
        "STOCKOPS_QDRANT_URL",
    ):
        if name not in extra:
            env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def trained(register_small_model: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    home = tmp_path_factory.mktemp("agent-home")
    return home, register_small_model("AAPL", home=home)


def settings_for(home: Path, ohlcv_dir: Path, **agent: Any) -> tuple[Any, Any]:
    from stockops.agent.settings import AgentSettings
    from stockops.config import Settings

    return (
        Settings(home=home, data_source=f"csv:{ohlcv_dir}", mlflow_tracking_uri=None),
        AgentSettings(news_source="none", llm_endpoint=None, qdrant_url=None, **agent),
    )


def test_a_template_analysis_is_checked_scored_and_then_cached(
    trained: tuple[Path, Any], ohlcv_dir: Path, tmp_path: Path
) -> None:
    from stockops.agent.run import run_analysis
    from stockops.agent.stance import compute_stance

    home, summary = trained
    settings, agent = settings_for(home, ohlcv_dir)
    events: list[tuple[str, str]] = []
    first = run_analysis(
        "AAPL", QUESTION, settings, agent, progress=lambda e, n, d: events.append((e, n)), env={}
    )
    assert first.generator == "template" and not first.cached
    assert first.model_version == summary.model_version and first.data_date == summary.data_as_of
    assert first.cache.enabled and first.cache.backend == "local" and not first.cache.hit
    assert first.critic_score == 1.0 and first.objections == [] and first.revisions == 0
    call = compute_stance(first.facts)
    assert (first.stance, first.confidence) == (call.stance, call.confidence)
    for section in REQUIRED_SECTIONS:
        assert f"## {section}" in first.report_markdown
    assert "not an LLM's analysis" in first.report_markdown
    assert [n for e, n in events if e == "done"][:2] == ["forecast", "semantic_cache"]
    assert {"forecast_analyst", "market_analyst", "writer", "critic", "finish"} <= {n for _, n in events}
    assert (home / "qdrant").is_dir()

    again = run_analysis("AAPL", "Should I be worried about volatility this week?", settings, agent, env={})
    assert again.cached and again.cache.hit and again.cache.similarity >= agent.cache_threshold
    assert again.report_markdown == first.report_markdown and again.stance == first.stance

    other = run_analysis("AAPL", "What is the price target for next month?", settings, agent, env={})
    assert not other.cached

    skipped = run_analysis("AAPL", QUESTION, settings, agent, use_cache=False, env={})
    assert not skipped.cached and not skipped.cache.hit and "lookup skipped" in (skipped.cache.note or "")


def test_in_a_cluster_without_a_qdrant_url_the_cache_is_off_and_says_so(
    trained: tuple[Path, Any], ohlcv_dir: Path
) -> None:
    from stockops.agent.run import run_analysis

    home, _ = trained
    settings, agent = settings_for(home, ohlcv_dir)
    result = run_analysis("AAPL", QUESTION, settings, agent, env={"KUBERNETES_SERVICE_HOST": "10.96.0.1"})
    assert not result.cached and not result.cache.enabled
    assert "no STOCKOPS_QDRANT_URL in a cluster" in (result.cache.note or "")


def test_cli_analyze_prints_the_report_and_json(trained: tuple[Path, Any], ohlcv_dir: Path) -> None:
    home, summary = trained
    env = agent_env(home, ohlcv_dir)
    shown = subprocess.run(
        [sys.executable, "-m", "stockops", "analyze", "AAPL", "Will the price fall next week?", "--no-cache"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "Summary" in shown.stdout and "What the model cannot know" in shown.stdout
    assert "generator template" in shown.stdout
    assert "critic" in shown.stderr and "market analyst" in shown.stderr  # the per-node progress lines
    as_json = subprocess.run(
        [sys.executable, "-m", "stockops", "analyze", "AAPL", "Will the price fall next week?", "--json"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    payload = json.loads(as_json.stdout)
    assert payload["model_version"] == summary.model_version and payload["generator"] == "template"
    assert payload["stance"] in ("BULLISH", "BEARISH", "NEUTRAL")
    assert payload["cached"] is True  # the --no-cache run above stored it


def test_cli_analyze_without_a_production_model_names_what_to_do(
    trained: tuple[Path, Any], ohlcv_dir: Path
) -> None:
    home, _ = trained
    failed = subprocess.run(
        [sys.executable, "-m", "stockops", "analyze", "MSFT", QUESTION],
        env=agent_env(home, ohlcv_dir), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert failed.returncode == 2
    error = " ".join(failed.stderr.split())
    assert "no production version of stockops-msft" in error and "stockops train-child MSFT" in error
    assert "Traceback" not in failed.stderr


def test_the_forecast_can_come_from_a_predictor_over_v1(
    trained: tuple[Path, Any], ohlcv_dir: Path, loopback: Any, tmp_path: Path
) -> None:
    import httpx

    from stockops.agent.run import run_analysis

    home, summary = trained
    port = loopback.free_port()
    log = tmp_path / "serve.log"
    serve = (
        "import sys; from stockops.config import load_settings; from stockops.predictor.serve import serve; "
        "serve('AAPL', int(sys.argv[1]), load_settings())"
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", serve, str(port)],
            env=agent_env(home, ohlcv_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        loopback.wait_until(
            lambda: httpx.get(f"{url}/v1/models/stockops-aapl", timeout=2).status_code == 200,
            timeout=240, what="stockops serve", process=process, log=log,
        )  # fmt: skip
        settings, agent = settings_for(home, ohlcv_dir, predictor_url=url)
        result = run_analysis("AAPL", "Is a drop likely?", settings, agent, use_cache=False, env={})
    finally:
        loopback.stop_process(process)
    assert result.report.model_version == summary.model_version
    assert result.trace[0]["node"] in ("forecast_analyst", "market_analyst")
    assert "(predictor)" not in result.report_markdown  # provenance is in the result, not the prose
    assert result.critic_score == 1.0


def test_the_job_logs_the_report_to_mlflow_and_writes_a_short_termination_message(
    register_small_model: Any, mlflow_server: str, ohlcv_dir: Path, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    home = tmp_path / "job-home"
    summary = register_small_model("AAPL", home=home, tracking_uri=mlflow_server)
    log = tmp_path / "termination-log"
    env = agent_env(
        home,
        ohlcv_dir,
        MLFLOW_TRACKING_URI=mlflow_server,
        STOCKOPS_AGENT_TICKER="AAPL",
        STOCKOPS_AGENT_QUESTION=QUESTION,
        STOCKOPS_TERMINATION_LOG=str(log),
        KUBERNETES_SERVICE_HOST="10.96.0.1",  # as in a pod: no Qdrant URL, so no cache
        STOCKOPS_JOB_NAME="analysis-aapl-1",
    )
    done = subprocess.run(
        [sys.executable, "-m", "stockops.agent"], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    raw = log.read_bytes()
    assert len(raw) < 4096
    message = json.loads(raw)
    assert message["ok"] is True and message["generator"] == "template" and message["cached"] is False
    assert message["model_version"] == summary.model_version and message["data_date"] == summary.data_as_of
    assert message["critic_score"] == 1.0 and message["revisions"] == 0
    assert "no STOCKOPS_QDRANT_URL" in message["cache"]
    run_id = message["mlflow_run_id"]
    assert message["report_artifact"] == f"runs:/{run_id}/analysis/report.md"

    client = MlflowClient(tracking_uri=mlflow_server)
    run = client.get_run(run_id)
    assert (
        run.data.tags["stockops.kind"] == "analysis"
        and run.data.tags["stockops.job_name"] == "analysis-aapl-1"
    )
    assert run.data.metrics["critic_score"] == 1.0 and run.data.metrics["revisions"] == 0
    report = Path(client.download_artifacts(run_id, "analysis/report.md", str(tmp_path))).read_text()
    result = json.loads(
        Path(client.download_artifacts(run_id, "analysis/result.json", str(tmp_path))).read_text()
    )
    assert report.startswith("# AAPL") and "## What the model cannot know" in report
    assert result["stance"] == message["stance"] and result["mlflow_run_id"] == run_id


def test_the_job_for_a_ticker_without_a_model_fails_with_a_reason(
    mlflow_server: str, ohlcv_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "termination-log"
    env = agent_env(
        tmp_path / "home",
        ohlcv_dir,
        MLFLOW_TRACKING_URI=mlflow_server,
        STOCKOPS_AGENT_TICKER="ZZZZ",
        STOCKOPS_AGENT_QUESTION=QUESTION,
        STOCKOPS_TERMINATION_LOG=str(log),
        STOCKOPS_RESOURCE="Analysis/default/zzzz",  # as the operator's Job sets it
    )
    done = subprocess.run(
        [sys.executable, "-m", "stockops.agent"], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 2
    message = json.loads(log.read_text())
    assert message["ok"] is False and message["reason"] == "ModelNotFound"
    assert "stockops-zzzz" in message["message"]
    # A cluster user is pointed at the TickerModel, not at a CLI command they cannot run in the pod.
    assert "TickerModel of ZZZZ" in message["message"] and "stockops train" not in message["message"]
