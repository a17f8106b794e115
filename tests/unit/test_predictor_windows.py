"""Window memoisation logic (the providers behind them are tested against real data in
tests/component/test_predictor_windows.py; here a counting in-memory provider implements the protocol)."""

from __future__ import annotations

import threading
import time
from datetime import date

import numpy as np
import pytest

from stockops.predictor.windows import FeatureWindow, RefreshingWindowProvider, WindowUnavailableError

COLUMNS = ("log_return",)


class CountingProvider:
    """Returns windows stamped with a call number; can be told to fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False
        self.done = threading.Event()

    def latest_window(self, ticker: str, columns: tuple[str, ...], context_days: int) -> FeatureWindow:
        self.calls += 1
        try:
            if self.fail:
                raise WindowUnavailableError(f"{ticker}: down")
            return FeatureWindow(
                np.full((context_days, 1), self.calls), date(2024, 5, 31), 1.0, "test", False
            )
        finally:
            self.done.set()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def wait_for_refresh(inner: CountingProvider, provider: RefreshingWindowProvider) -> None:
    assert inner.done.wait(5)
    deadline = time.monotonic() + 5
    while provider._refreshing and time.monotonic() < deadline:
        time.sleep(0.01)


def test_window_is_reused_until_it_is_stale() -> None:
    inner, clock = CountingProvider(), Clock()
    provider = RefreshingWindowProvider(inner, 100, clock=clock)
    first = provider.latest_window("AAPL", COLUMNS, 3)
    clock.now = 99
    assert provider.latest_window("AAPL", COLUMNS, 3) is first
    assert inner.calls == 1


def test_stale_window_is_served_while_a_background_refresh_replaces_it() -> None:
    inner, clock = CountingProvider(), Clock()
    provider = RefreshingWindowProvider(inner, 100, clock=clock)
    first = provider.latest_window("AAPL", COLUMNS, 3)
    clock.now = 150
    inner.done.clear()
    assert provider.latest_window("AAPL", COLUMNS, 3) is first  # no wait for the refresh
    wait_for_refresh(inner, provider)
    assert provider.latest_window("AAPL", COLUMNS, 3).window[0, 0] == 2


def test_failed_refresh_keeps_the_previous_window_and_retries_after_a_minute() -> None:
    inner, clock = CountingProvider(), Clock()
    provider = RefreshingWindowProvider(inner, 600, clock=clock)
    first = provider.latest_window("AAPL", COLUMNS, 3)
    inner.fail = True
    clock.now = 700
    inner.done.clear()
    provider.latest_window("AAPL", COLUMNS, 3)
    wait_for_refresh(inner, provider)
    calls = inner.calls
    clock.now = 730  # within the retry minute: no new attempt
    assert provider.latest_window("AAPL", COLUMNS, 3) is first
    assert inner.calls == calls


def test_first_read_failure_propagates() -> None:
    inner = CountingProvider()
    inner.fail = True
    with pytest.raises(WindowUnavailableError):
        RefreshingWindowProvider(inner, 100).latest_window("AAPL", COLUMNS, 3)


def test_windows_are_kept_per_ticker_and_shape() -> None:
    inner = CountingProvider()
    provider = RefreshingWindowProvider(inner, 100, clock=Clock())
    provider.latest_window("AAPL", COLUMNS, 3)
    provider.latest_window("MSFT", COLUMNS, 3)
    provider.latest_window("AAPL", COLUMNS, 4)
    assert inner.calls == 3
