"""The LLM writer's lenient decode: raw control characters inside strings are accepted, nothing else."""

from __future__ import annotations

import json

from stockops.agent.llm import parse_lenient

DRAFT = {
    "stance": "NEUTRAL",
    "confidence": "LOW",
    "summary": "No edge.",
    "answer": "Hold.",
    "market_view": "Quiet.",
    "risks": [],
    "limitations": [],
}


def test_a_raw_newline_inside_a_string_is_accepted() -> None:
    text = json.dumps(DRAFT).replace('"No edge."', '"No\nedge,\tyet."')
    draft = parse_lenient(text)
    assert draft is not None and draft.summary == "No\nedge,\tyet."


def test_what_does_not_fit_the_schema_stays_refused() -> None:
    assert parse_lenient(json.dumps({**DRAFT, "stance": "MAYBE"})) is None
    assert parse_lenient(json.dumps({k: v for k, v in DRAFT.items() if k != "answer"})) is None
    assert parse_lenient('{"stance": "NEUTRAL",') is None
    assert parse_lenient(None) is None
