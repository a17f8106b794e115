"""Errors of the feature store, as `DataError`s so callers already know how to report them.

The trainer maps `DataError` to exit code 2 ("bad data") and the CLI prints it as one line, so a
missing or stale store reads like any other data problem: it names the ticker, the store (its path and
online backend) and what to run next. `source` is the store, not a price source, because that is where
the reader has to look.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stockops.data.errors import DataError, DataUnavailableError, DataValidationError

ALL_TICKERS = "*"


def _store_label(store_path: Path | str, online: str | None) -> str:
    label = f"feature store {store_path}"
    return f"{label} (online: {online})" if online else label


class FeatureStoreEmpty(DataUnavailableError):  # noqa: N818 -- the name the shared interface fixes
    """Nothing is stored for `ticker` (or for any ticker, `ticker="*"`) in the store at `store_path`."""

    def __init__(
        self, ticker: str, store_path: Path | str, problem: str | None = None, online: str | None = None
    ) -> None:
        self.store_path = Path(store_path)
        self.online = online
        what = "no features stored" if ticker != ALL_TICKERS else "no features stored for any ticker"
        super().__init__(
            ticker,
            _store_label(store_path, online),
            problem
            or f"{what}; run `stockops features ingest {ticker if ticker != ALL_TICKERS else 'TICKER'}`",
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.ticker, self.store_path, self.problem, self.online))


class UnusableFeaturesError(DataValidationError):
    """Stored features exist but cannot serve this request (older feature set, window too short, gaps)."""

    def __init__(self, ticker: str, store_path: Path | str, problem: str, online: str | None = None) -> None:
        self.store_path = Path(store_path)
        self.online = online
        super().__init__(ticker, _store_label(store_path, online), problem)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.ticker, self.store_path, self.problem, self.online))


class FeatureIngestionError(DataError):
    """Ingestion of `ticker` failed before anything was written: the store keeps what it held.

    `source` is the price source that failed (or produced too little data); the message also names the
    store so the reader knows it was left untouched and what the predictor/trainer will keep using.
    """

    def __init__(self, ticker: str, source: str, problem: str, store_path: Path | str) -> None:
        self.store_path = Path(store_path)
        super().__init__(ticker, source, problem)

    def _format(self) -> str:
        return f"{super()._format()}; feature store {self.store_path} left unchanged"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.ticker, self.source, self.problem, self.store_path))
