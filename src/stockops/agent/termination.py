"""The agent Job's termination message: a compact JSON the operator reads (the kubelet keeps 4096 bytes).

The full report stays in MLflow (``report_artifact``); the message carries the call, the provenance, the
score and as many of the critic's remaining objections as fit, each cut to `OBJECTION_CHARS`.
"""

from __future__ import annotations

import json
from typing import Any

from stockops.agent.run import AnalysisResult

LIMIT_BYTES = 4096
BUDGET_BYTES = 3800  # below the kubelet's limit, with room for the newline and a reason on failure
SUMMARY_CHARS = 400
OBJECTION_CHARS = 240


def termination_message(result: AnalysisResult) -> dict[str, Any]:
    message: dict[str, Any] = {
        "ok": True,
        "ticker": result.ticker,
        "stance": result.stance,
        "confidence": result.confidence,
        "summary": _cut(result.summary, SUMMARY_CHARS),
        "model_name": result.model_name,
        "model_version": result.model_version,
        "data_date": result.data_date,
        "generator": result.generator,
        "cached": result.cached,
        "cache": _cut(result.cache.note or (result.cache.backend or "off"), 160),
        "critic_score": round(result.critic_score, 4),
        "revisions": result.revisions,
        "mlflow_run_id": result.mlflow_run_id,
        "report_artifact": result.report_artifact,
        "objections": [],
        "objections_total": len(result.objections),
    }
    for objection in result.objections:
        message["objections"].append(_cut(objection, OBJECTION_CHARS))
        if encoded_size(message) > BUDGET_BYTES:
            message["objections"].pop()
            break
    while encoded_size(message) > BUDGET_BYTES and len(message["summary"]) > 40:
        message["summary"] = _cut(message["summary"], len(message["summary"]) // 2)
    return message


def failure_message(reason: str, message: str) -> dict[str, Any]:
    return {"ok": False, "reason": reason, "message": _cut(message, 2000)}


def encoded_size(message: dict[str, Any]) -> int:
    return len(json.dumps(message, separators=(",", ":"), default=str).encode())


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
