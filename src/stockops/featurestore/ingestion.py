"""Ingestion: prices -> `compute_features` -> the offline parquet -> the online window.

Idempotent by construction: each run recomputes a ticker's features from the full history the source
returns and *replaces* that ticker's file (write a hidden temp file, then `os.replace`), so re-running
a day never duplicates rows and a reader sees the old file or the new one, never half of one. Whole
replacement rather than appending new days is deliberate: EMA-based features (RSI, MACD) depend on
where the history starts, so appending rows computed from a shorter fetch would splice two slightly
different feature series together.

When the source fails (Yahoo down, file missing), nothing is written: `FeatureIngestionError` says so
and the stores keep serving what they hold, with its as-of date.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stockops.data.errors import DataError
from stockops.data.features import compute_features
from stockops.data.sources import OhlcvSource
from stockops.data.validation import normalize_ticker
from stockops.featurestore.errors import ALL_TICKERS, FeatureIngestionError, FeatureStoreEmpty
from stockops.featurestore.store import StockFeatureStore
from stockops.featurestore.tables import ENTITY, EVENT_TIMESTAMP, daily_table, date_to_timestamp, window_table

logger = logging.getLogger(__name__)

# Rows kept in each ticker's online window. Larger than the default model context (60) so that a
# model trained with a longer context can be served without re-ingesting; the predictor slices the
# last `context_days` rows.
DEFAULT_WINDOW_DAYS = 120


@dataclass(frozen=True)
class IngestResult:
    """What one ticker's ingestion stored."""

    ticker: str
    rows: int
    first_date: date
    as_of: date
    window_rows: int
    data_source: str
    synthetic: bool
    daily_file: Path
    window_file: Path


@dataclass(frozen=True)
class IngestSummary:
    """The outcome of ingesting several tickers: one failure does not stop the others."""

    results: tuple[IngestResult, ...]
    failures: tuple[FeatureIngestionError, ...] = field(default=())
    materialized: dict[str, date] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def _write_atomically(tables: Iterable[tuple[pa.Table, Path]]) -> None:
    """Write every table to a hidden temp file next to its target, then swap them all in.

    Temp names start with `.` so parquet dataset readers (Feast's dask offline store) skip them. The
    swaps happen only after every write succeeded, so a failure leaves all targets as they were.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for table, target in tables:
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            pq.write_table(table, tmp)
            staged.append((tmp, target))
        for tmp, target in staged:
            os.replace(tmp, target)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def write_offline(
    ticker: str,
    source: OhlcvSource,
    store: StockFeatureStore,
    *,
    start: date | None = None,
    end: date | None = None,
    window_days: int = DEFAULT_WINDOW_DAYS,
    now: datetime | None = None,
) -> IngestResult:
    """Fetch, compute and store one ticker's offline rows (daily + window); no online write."""
    ticker = normalize_ticker(ticker)
    try:
        history = source.fetch(ticker, start, end)
        features = compute_features(history.frame)
    except DataError as exc:
        raise FeatureIngestionError(ticker, exc.source, exc.problem, store.root) from exc
    if features.empty:
        raise FeatureIngestionError(
            ticker,
            history.source,
            f"{len(history)} price rows ({history.first_date} to {history.last_date}) leave no feature "
            "rows after the indicators' warm-up; ingest a longer history",
            store.root,
        )
    ingested_at = now or datetime.now(UTC)
    provenance = {"data_source": history.source, "synthetic": history.synthetic, "ingested_at": ingested_at}
    daily = daily_table(ticker, features, **provenance)
    window = window_table(ticker, features, window_days, **provenance)
    layout = store.layout
    _write_atomically([(daily, layout.daily_file(ticker)), (window, layout.window_file(ticker))])
    result = IngestResult(
        ticker=ticker,
        rows=daily.num_rows,
        first_date=features.index[0].date(),
        as_of=features.index[-1].date(),
        window_rows=min(window_days, len(features)),
        data_source=history.source,
        synthetic=history.synthetic,
        daily_file=layout.daily_file(ticker),
        window_file=layout.window_file(ticker),
    )
    logger.info(
        "stored %d feature rows for %s (%s to %s, source %s) in %s",
        result.rows,
        ticker,
        result.first_date,
        result.as_of,
        result.data_source,
        store.root,
    )
    return result


def stored_windows(store: StockFeatureStore) -> dict[str, date]:
    """Ticker -> as-of date of every window in the offline store (what `materialize` will publish)."""
    windows_dir = store.layout.windows_dir
    if not any(p for p in windows_dir.glob("*.parquet") if not p.name.startswith((".", "_"))):
        return {}
    table = pq.read_table(windows_dir, columns=[ENTITY, EVENT_TIMESTAMP])
    tickers = table.column(ENTITY).to_pylist()
    stamps = table.column(EVENT_TIMESTAMP).to_pylist()
    return {ticker: stamp.date() for ticker, stamp in sorted(zip(tickers, stamps, strict=True))}


def materialize(store: StockFeatureStore) -> dict[str, date]:
    """Publish every stored window to the online store; returns ticker -> as-of date published.

    Materializes the whole span of stored windows (one row per ticker), not "since last time": a
    re-ingestion may move a ticker's window to an *earlier* date (corrected history), which an
    incremental materialization would skip.
    """
    windows = stored_windows(store)
    if not windows:
        raise FeatureStoreEmpty(ALL_TICKERS, store.root, online=store.online)
    stamps = [date_to_timestamp(day).to_pydatetime() for day in windows.values()]
    from stockops.featurestore.definitions import WINDOW_VIEW

    # Feast prints a coloured banner to stdout; keep stdout for the caller (`stockops ... --json`).
    with contextlib.redirect_stdout(io.StringIO()) as banner:
        store.feast.materialize(
            start_date=min(stamps),
            end_date=max(stamps) + timedelta(seconds=1),
            feature_views=[WINDOW_VIEW],
        )
    logger.debug("feast materialize: %s", " ".join(banner.getvalue().split()))
    logger.info("materialized %d feature windows to the %s online store", len(windows), store.online)
    return windows


def ingest(
    ticker: str,
    source: OhlcvSource,
    store: StockFeatureStore,
    *,
    start: date | None = None,
    end: date | None = None,
    window_days: int = DEFAULT_WINDOW_DAYS,
    now: datetime | None = None,
) -> IngestResult:
    """Store one ticker's features offline and publish its window online.

    Raises `FeatureIngestionError` (a `DataError`) when the source has no usable data; the store is
    then unchanged.
    """
    result = write_offline(ticker, source, store, start=start, end=end, window_days=window_days, now=now)
    materialize(store)
    return result


def ingest_tickers(
    tickers: Iterable[str],
    source: OhlcvSource,
    store: StockFeatureStore,
    *,
    start: date | None = None,
    end: date | None = None,
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> IngestSummary:
    """`stockops features ingest T1 T2 ...`: every ticker offline, then one materialization.

    A ticker whose source fails is reported in `failures` and leaves its stored rows untouched; the
    others are still stored and published.
    """
    results: list[IngestResult] = []
    failures: list[FeatureIngestionError] = []
    for ticker in tickers:
        try:
            results.append(
                write_offline(ticker, source, store, start=start, end=end, window_days=window_days)
            )
        except FeatureIngestionError as exc:
            logger.warning("%s", exc)
            failures.append(exc)
    materialized = materialize(store) if results else {}
    return IngestSummary(results=tuple(results), failures=tuple(failures), materialized=materialized)
