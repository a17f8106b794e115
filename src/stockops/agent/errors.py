"""Typed failures of an analysis, each with the ``reason`` an operator maps to a condition.

``AnalysisInputError`` (exit code 2): nothing to analyse, e.g. no production version, no stored prices,
a bad option; the message says what to do. ``LLMUnavailable`` (exit 1): the configured LLM endpoint did
not answer after the retries. ``LLMRejected``: it answered with a refusal (authentication, unknown
model, a request it cannot serve). ``LLMBadOutput``: no round of the writer produced a draft in the
report's schema.
"""

from __future__ import annotations


class AnalysisError(Exception):
    reason = "Error"
    exit_code = 1


class AnalysisInputError(AnalysisError):
    reason = "BadInput"
    exit_code = 2

    def __init__(self, message: str, *, reason: str = "BadInput") -> None:
        super().__init__(message)
        self.reason = reason


class LLMUnavailable(AnalysisError):  # noqa: N818 -- the condition reason the operator maps
    reason = "LLMUnavailable"


class LLMRejected(AnalysisError):  # noqa: N818
    reason = "LLMRejected"


class LLMBadOutput(AnalysisError):  # noqa: N818
    reason = "LLMBadOutput"
