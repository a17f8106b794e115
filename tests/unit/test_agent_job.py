"""Settings, the Job's termination message (always < 4 KiB) and failure reasons, the semantic cache's
plan, and an LLM endpoint that does not answer (`LLMUnavailable` after the retries)."""

from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path

import pytest
from pydantic import ValidationError

from stockops.agent.__main__ import classify_failure, main
from stockops.agent.errors import AnalysisInputError, LLMUnavailable
from stockops.agent.facts import (
    AnalysisFacts,
    ForecastFacts,
    ForecastPointFact,
    Freshness,
    MarketFacts,
    MetricFacts,
)
from stockops.agent.llm import LlmWriter, TemplateWriter, make_writer
from stockops.agent.report import Objection, build_report
from stockops.agent.run import AnalysisResult, validate_request
from stockops.agent.semantic_cache import CacheStatus, cache_plan
from stockops.agent.settings import AgentSettings
from stockops.agent.stance import compute_stance
from stockops.agent.template_writer import write_template
from stockops.agent.termination import LIMIT_BYTES, encoded_size, termination_message
from stockops.data.errors import DataUnavailableError


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def facts() -> AnalysisFacts:
    day = dt.date(2024, 5, 31)
    return AnalysisFacts(
        ticker="AAPL",
        question="Will it rise?",
        forecast=ForecastFacts(
            ticker="AAPL",
            model_name="stockops-aapl",
            model_version="2",
            as_of=day,
            last_close=100.0,
            points=(ForecastPointFact(date=dt.date(2024, 6, 3), close=101.0, low=98.0, high=104.0),),
        ),
        metrics=MetricFacts(skill=0.01, skill_ci_low=-0.01, skill_ci_high=0.03),
        market=MarketFacts(as_of=day, last_close=100.0, history_sessions=10),
        freshness=Freshness(today=dt.date(2024, 6, 3), sessions_since_as_of=0),
    )


def result(objections: int, summary_chars: int = 300) -> AnalysisResult:
    f = facts()
    call = compute_stance(f)
    prose = write_template(f, call).model_copy(update={"summary": "word " * (summary_chars // 5)})
    objection = Objection(
        check="numbers", section="Answer", problem="the number 9 is not in the facts." * 5, fix="x" * 300
    )
    report = build_report(f, call, prose, generator="llm:m", objections=[objection] * objections, revisions=2)
    return AnalysisResult(
        ticker="AAPL",
        question=f.question,
        stance=report.stance,
        confidence=report.confidence,
        summary=prose.summary,
        model_name="stockops-aapl",
        model_version="2",
        data_date="2024-05-31",
        generator="llm:m",
        cache=CacheStatus(enabled=False, note="semantic cache off: no STOCKOPS_QDRANT_URL in a cluster"),
        critic_score=0.6667,
        score=None,
        revisions=2,
        objections=[o.line() for o in report.objections],
        report_markdown="# report",
        report=report,
        mlflow_run_id="a" * 32,
        report_artifact=f"runs:/{'a' * 32}/analysis/report.md",
    )


def test_settings_defaults_mean_template_and_local_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STOCKOPS_LLM_ENDPOINT", "STOCKOPS_QDRANT_URL", "OPENAI_API_KEY", "STOCKOPS_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = AgentSettings()
    assert settings.generator == "template"
    assert isinstance(make_writer(settings), TemplateWriter)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKOPS_LLM_ENDPOINT", "http://llm.example:8000/v1/")
    monkeypatch.setenv("STOCKOPS_LLM_MODEL_NAME", "smol")
    monkeypatch.setenv("STOCKOPS_LLM_API_KEY", "s3cret")
    monkeypatch.setenv("STOCKOPS_AGENT_MAX_REVISIONS", "1")
    monkeypatch.setenv("STOCKOPS_QDRANT_URL", "")  # a Job template's empty value means unset
    settings = AgentSettings()
    assert settings.llm_endpoint == "http://llm.example:8000/v1"
    assert settings.generator == "llm:smol"
    assert settings.llm_api_key is not None and settings.llm_api_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.max_revisions == 1 and settings.qdrant_url is None


def test_a_non_http_endpoint_is_refused() -> None:
    with pytest.raises(ValidationError, match="not an http"):
        AgentSettings(llm_endpoint="llm.example:8000")


@pytest.mark.parametrize("objections", [0, 1, 50])
def test_the_termination_message_fits_in_4_kib(objections: int) -> None:
    message = termination_message(result(objections, summary_chars=5000))
    assert encoded_size(message) < LIMIT_BYTES
    assert len(message["summary"]) <= 400
    assert message["objections_total"] == objections
    assert len(message["objections"]) <= objections
    if objections:
        assert message["objections"]  # as many as fit, at least one
    assert {
        "stance",
        "confidence",
        "model_version",
        "data_date",
        "generator",
        "cached",
        "critic_score",
        "revisions",
        "mlflow_run_id",
        "report_artifact",
    } <= set(message)


def test_failures_map_to_reasons_and_exit_codes() -> None:
    assert classify_failure(LLMUnavailable("x")) == ("LLMUnavailable", 1)
    assert classify_failure(AnalysisInputError("x", reason="ModelNotFound")) == ("ModelNotFound", 2)
    assert classify_failure(DataUnavailableError("AAPL", "csv", "gone")) == ("NoData", 2)
    assert classify_failure(RuntimeError("boom")) == ("Error", 1)


def test_the_job_without_a_ticker_writes_an_invalid_config_message(tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    env = {"STOCKOPS_TERMINATION_LOG": str(log), "STOCKOPS_HOME": str(tmp_path / "home")}
    assert main(env) == 2
    message = json.loads(log.read_text())
    assert message == {
        "ok": False,
        "reason": "InvalidConfig",
        "message": "set STOCKOPS_AGENT_TICKER and STOCKOPS_AGENT_QUESTION",
    }


@pytest.mark.parametrize(
    ("ticker", "question", "match"),
    [("AAPL", "   ", "question is empty"), ("AAPL", "x" * 2001, "under 2000"), ("$$$", "why?", "ticker")],
)
def test_bad_requests_are_input_errors(ticker: str, question: str, match: str) -> None:
    with pytest.raises(AnalysisInputError, match=match):
        validate_request(ticker, question)


def test_cache_plan() -> None:
    home = Path("/h")
    assert cache_plan(mode="auto", qdrant_url=None, home=home, env={}) == (None, home / "qdrant", None)
    assert cache_plan(
        mode="auto", qdrant_url="http://q:6333", home=home, env={"KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    ) == ("http://q:6333", None, None)
    url, path, why = cache_plan(
        mode="auto", qdrant_url=None, home=home, env={"KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    )
    assert (url, path) == (None, None) and "no STOCKOPS_QDRANT_URL in a cluster" in (why or "")
    assert cache_plan(mode="off", qdrant_url="http://q:6333", home=home, env={})[2] is not None


def test_an_llm_endpoint_that_does_not_answer_is_llm_unavailable_after_retries() -> None:
    settings = AgentSettings(
        llm_endpoint=f"http://127.0.0.1:{closed_port()}/v1", llm_max_retries=1, llm_timeout_seconds=5
    )
    f = facts()
    with pytest.raises(LLMUnavailable, match="did not answer") as caught:
        LlmWriter(settings).write(f, compute_stance(f), None, None)
    assert caught.value.reason == "LLMUnavailable"


@pytest.mark.parametrize(
    ("resource", "named", "not_named"),
    [
        (None, "STOCKOPS_LLM_ENDPOINT", "spec.llm"),
        ("Analysis/team-a/aapl-vol", "spec.llm.endpoint", "STOCKOPS_"),
    ],
    ids=["cli", "analysis-job"],
)
def test_an_unanswered_llm_names_the_setting_its_user_can_change(
    resource: str | None, named: str, not_named: str
) -> None:
    """In a cluster the operator owns the Job's environment: the message names the Analysis field."""
    settings = AgentSettings(
        llm_endpoint=f"http://127.0.0.1:{closed_port()}/v1",
        llm_max_retries=0,
        llm_timeout_seconds=5,
        resource=resource,
    )
    f = facts()
    with pytest.raises(LLMUnavailable) as caught:
        LlmWriter(settings).write(f, compute_stance(f), None, None)
    assert named in str(caught.value) and not_named not in str(caught.value)
