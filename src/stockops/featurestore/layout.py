"""Where a feature store keeps its files, relative to one directory (Feast's `repo_path`).

One store directory holds everything: the Feast registry, the SQLite online store and the offline
parquet, one file per ticker so that re-ingesting a ticker replaces exactly its rows with one
`os.replace`. Paths inside Feast objects are relative (Feast resolves them against `repo_path`), so the
same definitions serve `~/.stockops/features`, a test's tmp dir and `feature_repo/` for the `feast` CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from stockops.data.validation import normalize_ticker

REGISTRY_PATH = "data/registry.db"
ONLINE_DB_PATH = "data/online.db"
DAILY_DIR = "data/offline/daily"
WINDOWS_DIR = "data/offline/windows"
APPLIED_MARKER = "data/applied.sha256"
PARQUET_SUFFIX = ".parquet"


def ticker_file_stem(ticker: str) -> str:
    """`AAPL` -> `AAPL`, `^GSPC` -> `%5EGSPC`: reversible, and never starts with `.` or `_`.

    Parquet dataset readers (pyarrow, dask) skip names starting with `.` or `_`; the temp files of an
    atomic write use a leading `.` exactly so readers never see half-written data.
    """
    return quote(normalize_ticker(ticker), safe="")


def ticker_from_file_stem(stem: str) -> str:
    return unquote(stem)


@dataclass(frozen=True)
class StoreLayout:
    """The absolute paths of one store directory."""

    root: Path

    @property
    def registry(self) -> Path:
        return self.root / REGISTRY_PATH

    @property
    def online_db(self) -> Path:
        return self.root / ONLINE_DB_PATH

    @property
    def daily_dir(self) -> Path:
        return self.root / DAILY_DIR

    @property
    def windows_dir(self) -> Path:
        return self.root / WINDOWS_DIR

    @property
    def applied_marker(self) -> Path:
        return self.root / APPLIED_MARKER

    def daily_file(self, ticker: str) -> Path:
        return self.daily_dir / f"{ticker_file_stem(ticker)}{PARQUET_SUFFIX}"

    def window_file(self, ticker: str) -> Path:
        return self.windows_dir / f"{ticker_file_stem(ticker)}{PARQUET_SUFFIX}"

    def stored_tickers(self) -> list[str]:
        """Tickers with a daily features file, sorted; temp files (leading `.`) are not tickers."""
        if not self.daily_dir.is_dir():
            return []
        return sorted(
            ticker_from_file_stem(p.name.removesuffix(PARQUET_SUFFIX))
            for p in self.daily_dir.glob(f"*{PARQUET_SUFFIX}")
            if not p.name.startswith((".", "_"))
        )

    def make_dirs(self) -> None:
        for path in (self.registry.parent, self.daily_dir, self.windows_dir):
            path.mkdir(parents=True, exist_ok=True)
