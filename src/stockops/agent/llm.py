"""Writers: the deterministic template, or an LLM behind any OpenAI-compatible endpoint.

The LLM writer asks for the `DraftProse` schema as structured output and parses it with pydantic: the
OpenAI ``json_schema`` response format (hosted APIs, strict mode), or ``json_object`` with the schema
inside, which llama.cpp's server takes instead and enforces with a grammar (``auto``, the default, tries
the first and falls back to the second when the endpoint refuses it). The stance and confidence it
restates are typed fields, never substrings of prose. It is told the computed call and the facts in a
short brief, and on a revision the critic's objections with their fixes.

Failures: no answer after ``llm_max_retries`` retries (connection refused, timeout, 5xx, 429) is
`LLMUnavailable`; a refusal (401/403, unknown model, a request it cannot serve) is `LLMRejected`; an
answer that does not fit the schema is `WriterOutputError`, which the graph turns into a critic
objection and another round.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from stockops.agent.errors import LLMRejected, LLMUnavailable
from stockops.agent.facts import AnalysisFacts
from stockops.agent.report import Critique, DraftProse
from stockops.agent.settings import AgentSettings, setting_names
from stockops.agent.stance import StanceCall
from stockops.agent.template_writer import write_template

log = logging.getLogger(__name__)


# endpoint -> the response format it took, so ``auto`` probes each endpoint once per process
_DETECTED_FORMAT: dict[str, str] = {}


class WriterOutputError(ValueError):
    """The writer's answer did not fit the report schema."""


class Writer(Protocol):
    generator: str

    def write(
        self, facts: AnalysisFacts, call: StanceCall, feedback: Critique | None, previous: DraftProse | None
    ) -> DraftProse: ...


class TemplateWriter:
    generator = "template"

    def write(
        self, facts: AnalysisFacts, call: StanceCall, feedback: Critique | None, previous: DraftProse | None
    ) -> DraftProse:
        return write_template(facts, call)


SYSTEM_PROMPT = (
    "You write the prose of a short stock forecast report as JSON. Rules: use only the facts given; "
    "copy numbers exactly as written in FACTS, or write no number; never invent prices, dates or news. "
    "The stance and the confidence are decided already: copy them into the stance and confidence fields "
    "and never describe another stance. Keep every field to one or two plain sentences."
)


def facts_brief(facts: AnalysisFacts, call: StanceCall) -> str:
    """The facts as short lines with the numbers formatted the way the report prints them (pure)."""
    f, m, mk = facts.forecast, facts.metrics, facts.market
    end = f.end
    lines = [
        f"ticker {f.ticker}; model {f.model_name} version {f.model_version}; data date {f.as_of}; "
        f"last close {f.last_close:.2f}",
        f"forecast for {end.date}: median {end.close:.2f} ({call.expected_change_pct:+.2f}%)"
        + (
            f", 10-90% range {end.low:.2f} to {end.high:.2f}"
            if end.low is not None and end.high is not None
            else ""
        ),
    ]
    if m.skill is not None:
        ci = (
            f" (95% interval {m.skill_ci_low:+.4f} to {m.skill_ci_high:+.4f})"
            if m.skill_ci_low is not None and m.skill_ci_high is not None
            else ""
        )
        lines.append(f"model skill against the random walk {m.skill:+.4f}{ci}")
    if m.directional_accuracy_pct is not None and m.base_rate_pct is not None:
        lines.append(
            f"directional accuracy {m.directional_accuracy_pct:.2f}% "
            f"against a base rate of {m.base_rate_pct:.2f}%"
        )
    if mk.volatility_20d_pct is not None:
        rank = f", percentile {mk.volatility_percentile:.0f} ({mk.regime} regime)" if mk.regime else ""
        lines.append(f"20-day volatility {mk.volatility_20d_pct:.2f}% annualised{rank}")
    if mk.change_5d_pct is not None:
        lines.append(f"price change over 5 sessions {mk.change_5d_pct:+.2f}%")
    lines.append(
        "news: " + ("; ".join(i.title for i in mk.news.items[:3]) if mk.news.items else mk.news.source)
    )
    lines.append(f"stance {call.stance}, confidence {call.confidence}, because {'; '.join(call.reasons)}")
    return "\n".join(f"- {line}" for line in lines)


def writer_messages(
    facts: AnalysisFacts, call: StanceCall, feedback: Critique | None
) -> list[tuple[str, str]]:
    human = f"QUESTION: {facts.question}\nFACTS:\n{facts_brief(facts, call)}"
    if feedback is not None and feedback.objections:
        fixes = "\n".join(f"- {o.section}: {o.problem} Fix: {o.fix}" for o in feedback.objections[:6])
        human += f"\nYOUR LAST DRAFT WAS REJECTED. Make these fixes:\n{fixes}"
    human += f"\nWrite the report JSON. stance must be {call.stance}; confidence must be {call.confidence}."
    return [("system", SYSTEM_PROMPT), ("human", human)]


class LlmWriter:
    """Structured output from an OpenAI-compatible chat endpoint (`langchain-openai`)."""

    def __init__(self, settings: AgentSettings) -> None:
        if settings.llm_endpoint is None:
            raise ValueError(f"LlmWriter needs {setting_names(settings).endpoint}")
        from langchain_openai import ChatOpenAI

        self.generator = settings.generator
        self.endpoint = settings.llm_endpoint
        self.names = setting_names(settings)
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
        chat = ChatOpenAI(
            base_url=settings.llm_endpoint,
            model=settings.llm_model,
            api_key=key,  # type: ignore[arg-type]
            timeout=settings.llm_timeout_seconds,
            max_retries=settings.llm_max_retries,
            max_tokens=settings.llm_max_tokens,  # type: ignore[call-arg]
            temperature=settings.llm_temperature,
            seed=0,
        )
        self._chat = chat
        self.response_format = settings.llm_response_format
        if self.response_format == "auto":
            self.response_format = _DETECTED_FORMAT.get(settings.llm_endpoint, "auto")
        self._structured = chat.with_structured_output(DraftProse, method="json_schema", include_raw=True)
        # llama.cpp's server (and Anyscale-style APIs) take the schema inside a json_object format
        self._json_object = chat.bind(
            response_format={"type": "json_object", "schema": DraftProse.model_json_schema()}
        )

    def write(
        self, facts: AnalysisFacts, call: StanceCall, feedback: Critique | None, previous: DraftProse | None
    ) -> DraftProse:
        messages = writer_messages(facts, call, feedback)
        if self.response_format == "auto":
            try:
                out = self._invoke(messages, json_object=False)
                self.response_format = _DETECTED_FORMAT[self.endpoint] = "json_schema"
            except (LLMUnavailable, LLMRejected) as exc:
                if "response_format" not in str(exc):
                    raise
                log.info("%s takes no json_schema response format; using json_object + schema", self.endpoint)
                self.response_format = _DETECTED_FORMAT[self.endpoint] = "json_object"
                out = self._invoke(messages, json_object=True)
        else:
            out = self._invoke(messages, json_object=self.response_format == "json_object")
        parsed = out.get("parsed")
        if isinstance(parsed, DraftProse):
            return parsed
        raw = out.get("raw")
        lenient = parse_lenient(getattr(raw, "content", None))
        if lenient is not None:
            return lenient
        error = out.get("parsing_error")
        finish = (getattr(raw, "response_metadata", None) or {}).get("finish_reason")
        cut = " (cut at max_tokens)" if finish == "length" else ""
        raise WriterOutputError(f"the LLM's answer did not fit the report schema{cut}: {_short(error)}")

    def _invoke(self, messages: list[tuple[str, str]], *, json_object: bool) -> dict[str, Any]:
        import openai

        try:
            if json_object:
                return _parse_json_object(self._json_object.invoke(messages))
            return dict(self._structured.invoke(messages))
        except (
            openai.APIConnectionError,
            openai.APITimeoutError,
            openai.RateLimitError,
            openai.InternalServerError,
        ) as exc:
            raise LLMUnavailable(
                f"the LLM endpoint {self.endpoint} did not answer ({type(exc).__name__}: {_short(exc)}); "
                f"check {self.names.endpoint}, or unset it to use the template writer"
            ) from exc
        except openai.APIStatusError as exc:
            raise LLMRejected(
                f"the LLM endpoint {self.endpoint} refused the request "
                f"(HTTP {exc.status_code}: {_short(exc)}); "
                f"check {self.names.model} and {self.names.api_key}"
            ) from exc
        except openai.OpenAIError as exc:  # e.g. LengthFinishReasonError from the parse helper
            raise WriterOutputError(f"the LLM's answer could not be read: {_short(exc)}") from exc


def _parse_json_object(message: Any) -> dict[str, Any]:
    """The ``with_structured_output(include_raw=True)`` shape for a json_object answer (pydantic parse)."""
    from pydantic import ValidationError

    try:
        return {
            "raw": message,
            "parsed": DraftProse.model_validate_json(str(message.content)),
            "parsing_error": None,
        }
    except ValidationError as exc:
        return {"raw": message, "parsed": None, "parsing_error": exc}


def parse_lenient(content: object) -> DraftProse | None:
    """The draft from JSON that only a strict decoder refuses: raw control characters (a newline, a tab)
    inside strings, which small models emit even under a JSON grammar. Anything else that does not fit
    the schema stays an error."""
    from pydantic import ValidationError

    if not isinstance(content, str):
        return None
    try:
        return DraftProse.model_validate(json.loads(content, strict=False))
    except (ValueError, ValidationError):
        return None


def make_writer(settings: AgentSettings) -> Writer:
    return TemplateWriter() if settings.llm_endpoint is None else LlmWriter(settings)


def _short(value: object, limit: int = 240) -> str:
    text = " ".join(str(value).split()) if value is not None else ""
    return text[:limit] or type(value).__name__
