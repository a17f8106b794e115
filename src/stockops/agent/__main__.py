"""`python -m stockops.agent`: one analysis in a Kubernetes Job, configured by the environment.

``STOCKOPS_AGENT_TICKER`` and ``STOCKOPS_AGENT_QUESTION`` (required), ``STOCKOPS_AGENT_MODEL_VERSION``
(optional; default the production alias), the LLM and cache settings of `stockops.agent.settings`
(the API key from a ``secretKeyRef`` env var), ``MLFLOW_TRACKING_URI`` for the report. It runs the same
`run_analysis` as ``stockops analyze``, logs the report to MLflow and writes a compact JSON
(`termination.termination_message`, < 4 KiB) to the termination-message file, through the trainer's
writer (``STOCKOPS_TERMINATION_LOG``, default ``/dev/termination-log``). Exit 0 on success, 2 on bad
input (no production version, no data, bad settings), 1 on anything else (``LLMUnavailable``, ...); a
failure's message has ``ok: false`` and the ``reason`` the operator maps to a condition.
"""

from __future__ import annotations

import logging
import os
import sys

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT = 0, 1, 2


def classify_failure(exc: BaseException) -> tuple[str, int]:
    from pydantic import ValidationError

    from stockops.agent.errors import AnalysisError
    from stockops.data.errors import DataError

    if isinstance(exc, AnalysisError):
        return exc.reason, exc.exit_code
    if isinstance(exc, DataError):
        return "NoData", EXIT_BAD_INPUT
    if isinstance(exc, ValidationError | ValueError):
        return "InvalidConfig", EXIT_BAD_INPUT
    return "Error", EXIT_ERROR


def main(env: dict[str, str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = dict(os.environ) if env is None else env
    from stockops.agent.termination import failure_message, termination_message
    from stockops.trainer.__main__ import write_termination

    log = logging.getLogger("stockops.agent")
    try:
        from stockops.agent.errors import AnalysisInputError
        from stockops.agent.run import run_analysis
        from stockops.agent.settings import AgentSettings
        from stockops.config import Settings
        from stockops.quiet import quiet_third_party

        settings = Settings()
        quiet_third_party(verbose=settings.verbose)
        agent = AgentSettings()
        ticker = env.get("STOCKOPS_AGENT_TICKER", "").strip()
        question = env.get("STOCKOPS_AGENT_QUESTION", "").strip()
        if not ticker or not question:
            raise AnalysisInputError(
                "set STOCKOPS_AGENT_TICKER and STOCKOPS_AGENT_QUESTION", reason="InvalidConfig"
            )

        def progress(event: str, node: str, detail: str) -> None:
            if event == "done":
                log.info("%s: %s", node, detail)

        result = run_analysis(
            ticker,
            question,
            settings,
            agent,
            version=env.get("STOCKOPS_AGENT_MODEL_VERSION") or None,
            progress=progress,
            env=env,
        )
    except Exception as exc:
        reason, code = classify_failure(exc)
        message = " ".join(str(exc).split()) or type(exc).__name__
        log.error("analysis failed (%s): %s", reason, message)
        write_termination(failure_message(reason, message), env)
        return code
    log.info(
        "analysis of %s: %s/%s, score %.2f, %d revision(s), generator %s%s",
        result.ticker,
        result.stance,
        result.confidence,
        result.critic_score,
        result.revisions,
        result.generator,
        ", cached" if result.cached else "",
    )
    write_termination(termination_message(result), env)
    return EXIT_OK


if __name__ == "__main__":
    from stockops.launch import exec_optimized

    exec_optimized("stockops.agent")
    sys.exit(main())
