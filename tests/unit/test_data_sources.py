"""Sources: the real CSV folder, Yahoo unreachable for real, the auto fallback, and spec parsing."""

from __future__ import annotations

import functools
import http.server
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockops.data import (
    AutoSource,
    CsvSource,
    CsvUrlSource,
    DataUnavailableError,
    DataValidationError,
    OhlcvSource,
    SyntheticSource,
    YFinanceSource,
    compute_features,
    csv_file_name,
    source_from_string,
)


@pytest.fixture
def yahoo_unreachable(monkeypatch: pytest.MonkeyPatch) -> str:
    """Route yfinance's HTTP client through a proxy port nothing listens on: a real refused connection.

    Yahoo is unreachable on the build machine anyway; the proxy makes the failure the same (and fast)
    on machines that do have internet. No mocks: yfinance and its HTTP stack run for real.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proxy = f"http://127.0.0.1:{port}"
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return proxy


def test_csv_file_name_drops_the_index_caret() -> None:
    assert csv_file_name("^GSPC") == "GSPC.csv"
    assert csv_file_name("aapl") == "AAPL.csv"
    assert csv_file_name("BRK.B") == "BRK.B.csv"


def test_real_gspc_loads_with_its_known_quirks(ohlcv_dir: Path) -> None:
    history = CsvSource(ohlcv_dir).fetch("^GSPC")

    frame = history.frame
    assert history.ticker == "^GSPC"
    assert history.synthetic is False
    assert history.source.endswith("GSPC.csv")
    assert len(frame) == 24776
    assert history.first_date == date(1927, 12, 30)
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    # Before 1950 Yahoo has no volume: kept as zero, not invented.
    assert (frame.loc[:"1949-12-30", "volume"] == 0).all()
    # The isolated zero on 2023-05-24 is a Yahoo glitch: imputed from the previous trading day.
    assert frame.loc["2023-05-24", "volume"] == frame.loc["2023-05-23", "volume"] > 0
    assert (frame["volume"].loc["1950":] > 0).all()


def test_real_gspc_features_are_finite_and_volume_z_degrades_to_zero(ohlcv_dir: Path) -> None:
    features = compute_features(CsvSource(ohlcv_dir).fetch("^GSPC").frame)

    assert np.isfinite(features.to_numpy()).all()
    assert (features.loc[:"1949-12-30", "volume_z"] == 0).all()
    assert features.loc["1951", "volume_z"].std() > 0.5


def test_real_aapl_loads_and_zero_volume_day_is_imputed(ohlcv_dir: Path) -> None:
    history = CsvSource(ohlcv_dir).fetch("AAPL")

    frame = history.frame
    assert len(frame) == 11505
    assert frame.loc["1981-08-10", "volume"] == frame.loc["1981-08-07", "volume"]
    assert (frame["volume"] > 0).all()
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()


def test_start_and_end_are_inclusive_filters(ohlcv_dir: Path) -> None:
    history = CsvSource(ohlcv_dir).fetch("AAPL", start=date(2020, 1, 2), end=date(2020, 1, 31))

    assert history.first_date == date(2020, 1, 2)
    assert history.last_date == date(2020, 1, 31)
    assert len(history) == 21


def test_range_outside_the_data_is_unavailable(ohlcv_dir: Path) -> None:
    with pytest.raises(
        DataUnavailableError, match=r"no rows between 1900-01-01 and 1910-01-01; the data covers"
    ):
        CsvSource(ohlcv_dir).fetch("AAPL", start=date(1900, 1, 1), end=date(1910, 1, 1))


def test_start_after_end_is_a_caller_error(ohlcv_dir: Path) -> None:
    with pytest.raises(ValueError, match="start 2021-01-01 is after end 2020-01-01"):
        CsvSource(ohlcv_dir).fetch("AAPL", start=date(2021, 1, 1), end=date(2020, 1, 1))


def test_unknown_ticker_names_the_file_and_directory(ohlcv_dir: Path) -> None:
    with pytest.raises(DataUnavailableError) as info:
        CsvSource(ohlcv_dir).fetch("NOPE")

    message = str(info.value)
    assert message.startswith("NOPE (csv:")
    assert "no file NOPE.csv in " in message
    assert str(ohlcv_dir.resolve()) in message


def test_yfinance_unreachable_raises_clear_error_after_retries(
    yahoo_unreachable: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = YFinanceSource(retries=2, backoff_seconds=0.01, timeout_seconds=2)

    with (
        caplog.at_level(logging.WARNING, logger="stockops.data.sources"),
        pytest.raises(DataUnavailableError) as info,
    ):
        source.fetch("AAPL", start=date(2024, 1, 2), end=date(2024, 2, 1))

    error = info.value
    assert error.ticker == "AAPL"
    assert error.source == "yfinance"
    assert "Yahoo Finance unreachable or returned no data after 3 attempt(s) (timeout 2s each)" in str(error)
    assert str(error).endswith(
        "Check the network and the symbol, or use the data source csv:DIR or synthetic"
    )
    retries = [
        r for r in caplog.records if r.name == "stockops.data.sources" and "retrying in" in r.getMessage()
    ]
    assert len(retries) == 2


def test_auto_falls_back_to_synthetic_loudly(
    yahoo_unreachable: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = AutoSource(
        primary=YFinanceSource(retries=0, backoff_seconds=0.0, timeout_seconds=2), fallback=SyntheticSource(7)
    )

    with caplog.at_level(logging.WARNING, logger="stockops.data.sources"):
        history = source.fetch("AAPL", start=date(2020, 1, 2), end=date(2020, 3, 31))

    assert history.synthetic is True
    assert history.source.startswith("synthetic (fallback: yfinance: Yahoo Finance unreachable")
    assert history.first_date == date(2020, 1, 2)
    assert history.last_date == date(2020, 3, 31)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "SYNTHETIC" in r.getMessage()]
    assert len(warnings) == 1
    assert "AAPL" in warnings[0].getMessage()
    # The fallback data is exactly what the synthetic source would give: nothing else is mixed in.
    expected = SyntheticSource(7).fetch("AAPL", start=date(2020, 1, 2), end=date(2020, 3, 31))
    pd.testing.assert_frame_equal(history.frame, expected.frame)


def test_source_from_string_parses_every_spec(tmp_path: Path) -> None:
    csv = source_from_string(f"csv:{tmp_path}")
    assert isinstance(csv, CsvSource)
    assert csv.directory == tmp_path.resolve()
    assert isinstance(source_from_string("yfinance"), YFinanceSource)
    synthetic = source_from_string(" Synthetic ", seed=3)
    assert isinstance(synthetic, SyntheticSource) and synthetic.seed == 3
    auto = source_from_string("auto", seed=5)
    assert isinstance(auto, AutoSource) and auto.fallback.seed == 5
    for source in (csv, synthetic, auto):
        assert isinstance(source, OhlcvSource)


@pytest.mark.parametrize("spec", ["", "yahoo", "csv:", "csv:  ", "s3://bucket", "file:/data"])
def test_source_from_string_rejects_anything_else(spec: str) -> None:
    with pytest.raises(ValueError, match="data source"):
        source_from_string(spec)


@pytest.fixture
def served_ohlcv(ohlcv_dir: Path, tmp_path: Path) -> Iterator[str]:
    """The real CSV folder behind a real HTTP server on loopback (a bad file beside it)."""
    folder = tmp_path / "www"
    folder.mkdir()
    (folder / "AAPL.csv").write_bytes((ohlcv_dir / "AAPL.csv").read_bytes())
    (folder / "BAD.csv").write_text("not,a\n1\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_csv_folder_over_http_reads_like_the_folder(served_ohlcv: str, ohlcv_dir: Path) -> None:
    source = source_from_string(f"csv:{served_ohlcv}")
    assert isinstance(source, CsvUrlSource) and source.name == f"csv:{served_ohlcv.rstrip('/')}"
    over_http = source.fetch("AAPL", start=date(2020, 1, 1), end=date(2020, 12, 31))
    on_disk = CsvSource(ohlcv_dir).fetch("AAPL", start=date(2020, 1, 1), end=date(2020, 12, 31))
    pd.testing.assert_frame_equal(over_http.frame, on_disk.frame)
    assert over_http.source == "csv:AAPL.csv" and not over_http.synthetic  # no server in provenance


def test_a_csv_url_names_the_missing_file_the_bad_file_and_the_dead_server(served_ohlcv: str) -> None:
    source = CsvUrlSource(served_ohlcv)
    with pytest.raises(DataUnavailableError, match=r"MSFT\.csv answered HTTP 404"):
        source.fetch("MSFT")
    with pytest.raises(DataValidationError, match=r"BAD\.csv"):
        source.fetch("BAD")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DataUnavailableError, match="cannot read"):
        CsvUrlSource(f"http://127.0.0.1:{port}").fetch("AAPL")
