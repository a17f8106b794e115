"""Errors raised when price data cannot be obtained or cannot be trusted.

Every error names the ticker, the source it came from and the problem, plus the file when there is
one, because the person reading it (a user at the CLI, an operator reading a CR's status condition)
has to know *what* to fix *where* without reading a traceback. The trainer maps these to exit code 2
("bad data"), so they are kept apart from programming errors (ValueError, TypeError).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class DataError(Exception):
    """Price data for `ticker` from `source` is unusable; `problem` says why in one line."""

    def __init__(
        self,
        ticker: str,
        source: str,
        problem: str,
        *,
        file: Path | str | None = None,
        hint: str | None = None,
    ) -> None:
        self.ticker = ticker
        self.source = source
        self.problem = problem
        self.file = Path(file) if file is not None else None
        self.hint = hint  # what to do about it; kept out of `problem` so that stays a short fact
        super().__init__(self._format())

    def _format(self) -> str:
        where = self.source
        if self.file is not None and str(self.file) not in self.source:
            where = f"{self.source}, file {self.file}"
        message = f"{self.ticker} ({where}): {self.problem}"
        return f"{message}. {self.hint}" if self.hint else message

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle through `args`; ours take keyword-only state, so spell it out (needed
        # when errors cross process boundaries, e.g. a multiprocessing data loader).
        return (type(self), (self.ticker, self.source, self.problem), {"file": self.file, "hint": self.hint})

    def __setstate__(self, state: dict[str, Any] | None) -> None:
        state = state or {}
        self.file = state.get("file")
        self.hint = state.get("hint")
        self.args = (self._format(),)


class DataUnavailableError(DataError):
    """The source has no data for the ticker, or cannot be reached (network, missing file)."""


class DataValidationError(DataError):
    """Data was found but is malformed: missing columns, bad dates, gaps in values, too few rows."""
