"""The in-memory sliding window (the Redis one is exercised against a real Redis in the component
tests), driven by an injected clock."""

from __future__ import annotations

import asyncio

import pytest

from stockops.gateway.ratelimit import MemorySlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_admits_that_many_then_refuses_with_the_wait() -> None:
    clock = Clock()
    window = MemorySlidingWindow(3, 10.0, clock=clock)
    assert [window.check("k").allowed for _ in range(3)] == [True, True, True]
    clock.now += 2.5
    refused = window.check("k")
    assert not refused.allowed
    assert refused.retry_after == 8  # the oldest admitted request leaves the window 7.5 s from now


def test_the_window_slides_one_request_at_a_time() -> None:
    clock = Clock()
    window = MemorySlidingWindow(3, 10.0, clock=clock)
    for at in (0.0, 5.0, 9.0):
        clock.now = 1000.0 + at
        assert window.check("k").allowed
    clock.now = 1009.5
    assert not window.check("k").allowed
    clock.now = 1010.0  # the request at 0 leaves; those at 5 and 9 stay
    assert window.check("k").allowed
    assert not window.check("k").allowed
    clock.now = 1015.0
    assert window.check("k").allowed


def test_refused_requests_are_not_counted() -> None:
    clock = Clock()
    window = MemorySlidingWindow(1, 10.0, clock=clock)
    assert window.check("k").allowed
    for _ in range(100):
        clock.now += 0.05
        assert not window.check("k").allowed
    clock.now = 1010.0
    assert window.check("k").allowed


def test_keys_have_separate_windows() -> None:
    window = MemorySlidingWindow(1, 60.0, clock=Clock())
    assert window.check("a").allowed
    assert not window.check("a").allowed
    assert window.check("b").allowed


def test_retry_after_is_at_least_one_second() -> None:
    clock = Clock()
    window = MemorySlidingWindow(1, 1.0, clock=clock)
    window.check("k")
    clock.now += 0.999
    assert window.check("k").retry_after == 1


def test_the_async_face_answers_the_same() -> None:
    window = MemorySlidingWindow(1, 60.0, clock=Clock())
    assert asyncio.run(window.hit("k")).allowed
    assert not asyncio.run(window.hit("k")).allowed


@pytest.mark.parametrize(("limit", "seconds"), [(0, 1.0), (1, 0.0)])
def test_a_limit_needs_a_count_and_a_window(limit: int, seconds: float) -> None:
    with pytest.raises(ValueError):
        MemorySlidingWindow(limit, seconds)
