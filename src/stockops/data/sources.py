"""Where daily prices come from: a CSV directory (or HTTP folder), Yahoo Finance, or a seeded synthetic
generator.

All sources return the same validated `PriceHistory`, so the trainer, the predictor and the CLI never
care which one is configured; they get one from `source_from_string(settings.data_source)` at the edge.
`auto` exists for demos on machines without internet: it tries Yahoo and, if that fails, falls back to
synthetic prices *loudly* (a logged warning, `synthetic=True` and a "synthetic (fallback: ...)" source
that the pipeline records), because silently training on fake prices would be worse than failing.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd

from stockops.data.calendar import drop_unfinished_session
from stockops.data.errors import DataError, DataUnavailableError, DataValidationError
from stockops.data.history import PriceHistory
from stockops.data.synthetic import SyntheticSource
from stockops.data.validation import normalize_ticker, validate_ohlcv

logger = logging.getLogger(__name__)

SOURCE_SPECS = "auto | yfinance | synthetic | csv:DIR | csv:http(s)://URL"


@runtime_checkable
class OhlcvSource(Protocol):
    """Anything that can produce validated daily OHLCV for a ticker."""

    name: str
    synthetic: bool

    def fetch(self, ticker: str, start: date | None = None, end: date | None = None) -> PriceHistory:
        """Prices for `ticker` from `start` to `end` (both inclusive; None = all available)."""
        ...


def csv_file_name(ticker: str) -> str:
    """`AAPL` -> `AAPL.csv`; index symbols drop Yahoo's caret (`^GSPC` -> `GSPC.csv`)."""
    return f"{normalize_ticker(ticker).lstrip('^')}.csv"


def _check_range(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and start > end:
        raise ValueError(f"start {start} is after end {end}")


def _between(
    frame: pd.DataFrame, start: date | None, end: date | None, *, ticker: str, source: str
) -> pd.DataFrame:
    selected = frame.loc[pd.Timestamp(start) if start else None : pd.Timestamp(end) if end else None]
    if selected.empty:
        raise DataUnavailableError(
            ticker,
            source,
            f"no rows between {start or 'the beginning'} and {end or 'the end'}; the data covers "
            f"{frame.index[0].date()} to {frame.index[-1].date()}",
        )
    return selected


class CsvSource:
    """Reads `<directory>/<TICKER>.csv` in the Yahoo layout (see `csv_file_name`)."""

    synthetic = False

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory).expanduser().resolve()
        self.name = f"csv:{self.directory}"

    def __repr__(self) -> str:
        return f"CsvSource({str(self.directory)!r})"

    def path_for(self, ticker: str) -> Path:
        return self.directory / csv_file_name(ticker)

    def fetch(self, ticker: str, start: date | None = None, end: date | None = None) -> PriceHistory:
        symbol = normalize_ticker(ticker)
        _check_range(start, end)
        path = self.path_for(symbol)
        if not self.directory.is_dir():
            raise DataUnavailableError(
                symbol, self.name, f"CSV directory {self.directory} does not exist (looked for {path.name})"
            )
        if not path.is_file():
            raise DataUnavailableError(
                symbol,
                self.name,
                f"no file {path.name} in {self.directory}; add {path} or choose another data source",
            )
        # Provenance names the file, not where it lives on this machine: it travels into the feature
        # store, MLflow tags, predictor responses and CR status, which must not show server paths.
        source = f"csv:{path.name}"
        try:
            raw = pd.read_csv(path, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataValidationError(
                symbol, source, f"not a readable CSV file: {first_line}", file=path
            ) from exc
        except OSError as exc:
            raise DataUnavailableError(symbol, source, f"cannot read file: {exc}", file=path) from exc
        frame = validate_ohlcv(raw, ticker=symbol, source=source, file=path)
        return PriceHistory(
            ticker=symbol,
            frame=_between(frame, start, end, ticker=symbol, source=source),
            source=source,
            synthetic=False,
        )


class CsvUrlSource:
    """Reads `<base URL>/<TICKER>.csv` over HTTP(S), in the same layout as `CsvSource`.

    For pods that cannot see the files of the machine that holds them (a cluster, kind's nodes): the
    folder is served by any web server or object store website; nothing is cached here, every fetch
    reads the file again, as `CsvSource` does.
    """

    synthetic = False
    timeout_s = 30.0

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = f"csv:{self.base_url}"

    def __repr__(self) -> str:
        return f"CsvUrlSource({self.base_url!r})"

    def url_for(self, ticker: str) -> str:
        return f"{self.base_url}/{csv_file_name(ticker)}"

    def fetch(self, ticker: str, start: date | None = None, end: date | None = None) -> PriceHistory:
        import io
        import urllib.error
        import urllib.request

        symbol = normalize_ticker(ticker)
        _check_range(start, end)
        url = self.url_for(symbol)
        source = f"csv:{csv_file_name(symbol)}"  # provenance names the file, not the server
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise DataUnavailableError(symbol, self.name, f"{url} answered HTTP {exc.code}") from exc
        except (OSError, ValueError) as exc:
            raise DataUnavailableError(symbol, self.name, f"cannot read {url}: {exc}") from exc
        try:
            raw = pd.read_csv(io.BytesIO(body), skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataValidationError(
                symbol, source, f"{url} is not a readable CSV file: {first_line}"
            ) from exc
        frame = validate_ohlcv(raw, ticker=symbol, source=source)
        return PriceHistory(
            ticker=symbol,
            frame=_between(frame, start, end, ticker=symbol, source=source),
            source=source,
            synthetic=False,
        )


class _YFinanceLogCapture(logging.Handler):
    """Collects what yfinance logs during one download: it reports failures there, not as exceptions."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().strip()
        if message:
            self.messages.append(message)

    def reason(self) -> str | None:
        """The last message (yfinance's download summary), plus the network failure behind it if any.

        Offline, yfinance's summary is often a misleading "possibly delisted; no timezone found"
        because the timezone lookup failed first; the connection error logged earlier is the cause.
        """
        if not self.messages:
            return None
        summary = self.messages[-1]
        network = next((m for m in self.messages if _NETWORK_FAILURE.search(m)), None)
        if network and network != summary and not _NETWORK_FAILURE.search(summary):
            return f"{summary} (network: {network})"
        return summary


_NETWORK_FAILURE = re.compile(r"ConnectionError|Timeout|DNSError|curl: \(|Could not resolve|timed out", re.I)


class YFinanceSource:
    """Daily adjusted prices from Yahoo Finance via `yfinance` (`auto_adjust=True`).

    Yahoo is flaky (rate limits, transient empty answers), so each fetch makes `1 + retries` attempts,
    waiting `backoff_seconds`, then twice that, and so on, with `timeout_seconds` per HTTP request.
    Failing all attempts raises `DataUnavailableError` with the last reason yfinance gave.
    """

    synthetic = False

    def __init__(
        self, *, retries: int = 3, backoff_seconds: float = 1.0, timeout_seconds: float = 10.0
    ) -> None:
        if retries < 0 or backoff_seconds < 0 or timeout_seconds <= 0:
            raise ValueError("retries and backoff_seconds must be >= 0 and timeout_seconds > 0")
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.name = "yfinance"

    def __repr__(self) -> str:
        return (
            f"YFinanceSource(retries={self.retries}, backoff_seconds={self.backoff_seconds}, "
            f"timeout_seconds={self.timeout_seconds})"
        )

    def fetch(self, ticker: str, start: date | None = None, end: date | None = None) -> PriceHistory:
        symbol = normalize_ticker(ticker)
        _check_range(start, end)
        attempts = self.retries + 1
        reason = "no attempt made"
        for attempt in range(attempts):
            if attempt:
                delay = self.backoff_seconds * 2 ** (attempt - 1)
                logger.warning(
                    "yfinance %s: attempt %d/%d failed (%s); retrying in %.2fs",
                    symbol,
                    attempt,
                    attempts,
                    reason,
                    delay,
                )
                time.sleep(delay)
            raw, reason = self._download(symbol, start, end)
            if raw is not None and not raw.empty:
                # during market hours Yahoo returns today's bar as it forms: never use a partial close
                frame = drop_unfinished_session(validate_ohlcv(raw, ticker=symbol, source=self.name))
                return PriceHistory(
                    ticker=symbol,
                    frame=_between(frame, start, end, ticker=symbol, source=self.name),
                    source=self.name,
                    synthetic=False,
                )
        raise DataUnavailableError(
            symbol,
            self.name,
            f"Yahoo Finance unreachable or returned no data after {attempts} attempt(s) "
            f"(timeout {self.timeout_seconds:g}s each): {reason}",
            hint="Check the network and the symbol, or use the data source csv:DIR or synthetic",
        )

    def _download(self, symbol: str, start: date | None, end: date | None) -> tuple[pd.DataFrame | None, str]:
        """One real yfinance request; returns (frame or None, reason it is unusable)."""
        try:
            import yfinance  # imported here: it is an optional dependency (the `ml` extra)
        except ImportError as exc:
            raise DataUnavailableError(
                symbol, self.name, "the yfinance package is not installed (install stockops[ml])"
            ) from exc
        # yfinance's end is exclusive, ours inclusive. Without a start, ask for the full history and cut
        # locally (an `end` alone is not a request yfinance understands).
        window = (
            {"period": "max"}
            if start is None
            else {"start": start, "end": end + timedelta(days=1) if end is not None else None}
        )
        capture = _YFinanceLogCapture()
        yf_logger = logging.getLogger("yfinance")
        yf_logger.addHandler(capture)
        # yfinance logs every failed attempt at ERROR; its reason is folded into our one clear error.
        propagate, yf_logger.propagate = yf_logger.propagate, False
        try:
            raw = yfinance.download(
                symbol,
                **window,
                interval="1d",
                auto_adjust=True,
                actions=False,
                progress=False,
                threads=False,
                multi_level_index=False,
                timeout=self.timeout_seconds,
            )
        except Exception as exc:  # network libraries raise many types; all mean "try again"
            return None, f"{type(exc).__name__}: {exc}"
        finally:
            yf_logger.removeHandler(capture)
            yf_logger.propagate = propagate
        if raw is None or raw.empty:
            return None, _shorten(capture.reason() or "Yahoo returned no rows (unknown or delisted symbol?)")
        return raw, ""


def _shorten(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class AutoSource:
    """Yahoo first; on any data error, synthetic prices with a loud warning and `synthetic=True`."""

    synthetic = False  # per fetch: the returned PriceHistory says whether the fallback was used

    def __init__(self, primary: OhlcvSource | None = None, fallback: SyntheticSource | None = None) -> None:
        # Fewer retries than a plain yfinance source: auto is for demos, which should not hang offline.
        self.primary = primary or YFinanceSource(retries=2, backoff_seconds=0.5)
        self.fallback = fallback or SyntheticSource()
        self.name = "auto"

    def __repr__(self) -> str:
        return f"AutoSource(primary={self.primary!r}, fallback={self.fallback!r})"

    def fetch(self, ticker: str, start: date | None = None, end: date | None = None) -> PriceHistory:
        try:
            return self.primary.fetch(ticker, start, end)
        except DataError as exc:
            return self.fallback_fetch(exc, start, end)

    def fallback_fetch(
        self, failure: DataError, start: date | None = None, end: date | None = None
    ) -> PriceHistory:
        """Synthetic prices for `failure.ticker`, after the primary source failed with `failure`.

        Public so a caller that already tried the primary itself (the feature store refresh) does not
        try it a second time before falling back.
        """
        logger.warning(
            "DATA SOURCE FALLBACK: %s could not be fetched from %s (%s). Using SYNTHETIC prices "
            "instead: results are NOT about the real market. Set STOCKOPS_DATA_SOURCE to csv:DIR or "
            "yfinance to avoid this.",
            failure.ticker,
            self.primary.name,
            failure.problem,
        )
        history = self.fallback.fetch(failure.ticker, start, end)
        reason = _shorten(f"{self.primary.name}: {failure.problem}", limit=200)
        return replace(history, source=f"synthetic (fallback: {reason})", synthetic=True)


def source_from_string(spec: str, *, seed: int = 42) -> OhlcvSource:
    """Parse a data-source setting: "auto" | "yfinance" | "synthetic" | "csv:DIR" | "csv:http(s)://URL"."""
    text = spec.strip() if isinstance(spec, str) else ""
    keyword = text.lower()
    if keyword == "auto":
        return AutoSource(fallback=SyntheticSource(seed))
    if keyword == "yfinance":
        return YFinanceSource()
    if keyword == "synthetic":
        return SyntheticSource(seed)
    if keyword.startswith("csv:"):
        directory = text[len("csv:") :].strip()
        if not directory:
            raise ValueError(f"data source {spec!r} names no directory: use csv:DIR, e.g. csv:./data/ohlcv")
        if directory.lower().startswith(("http://", "https://")):
            return CsvUrlSource(directory)
        return CsvSource(directory)
    raise ValueError(f"unknown data source {spec!r}: expected one of {SOURCE_SPECS}")
