"""The gateway's naming rules: ticker -> resource name, ticker validation, and task ids."""

from __future__ import annotations

import pytest

from stockops.gateway.names import TaskId, normalize_ticker, resource_name, task_kind


@pytest.mark.parametrize(
    ("ticker", "name"),
    [
        ("^GSPC", "gspc"),
        ("BRK.B", "brk-b"),
        ("AAPL", "aapl"),
        ("BTC-USD", "btc-usd"),
        ("7203.T", "7203-t"),
        ("EURUSD=X", "eurusd-x"),
        (" msft ", "msft"),
    ],
)
def test_resource_name_lower_cases_drops_the_caret_and_dashes_the_rest(ticker: str, name: str) -> None:
    assert resource_name(ticker) == name


@pytest.mark.parametrize("ticker", ["", "^", "  "])
def test_resource_name_refuses_a_ticker_with_nothing_to_name(ticker: str) -> None:
    with pytest.raises(ValueError, match="no characters"):
        resource_name(ticker)


@pytest.mark.parametrize(("raw", "ticker"), [("aapl", "AAPL"), (" ^gspc ", "^GSPC"), ("brk.b", "BRK.B")])
def test_tickers_are_case_insensitive_and_upper_cased(raw: str, ticker: str) -> None:
    assert normalize_ticker(raw) == ticker


@pytest.mark.parametrize(
    "raw",
    ["", "../etc", "AAPL/", "^^X", "-A", ".A", "A" * 17, "ÄPPLE", "A B", "AAPL;", "EURUSD=X", "a\x00b"],
)
def test_tickers_outside_the_crd_pattern_are_refused_with_an_example(raw: str) -> None:
    with pytest.raises(ValueError, match="expected a symbol such as AAPL"):
        normalize_ticker(raw)


def test_a_non_string_ticker_is_refused() -> None:
    with pytest.raises(ValueError, match="is not a ticker"):
        normalize_ticker(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["tickermodel/aapl/1", "parentmodel/gspc/12", "analysis/brk-b/3", "tickermodel/7203-t/1"]
)
def test_task_ids_round_trip(text: str) -> None:
    parsed = TaskId.parse(text)
    assert str(parsed) == text
    assert TaskId.parse(str(parsed)) == parsed


def test_task_id_fields() -> None:
    parsed = TaskId.parse("tickermodel/aapl/7")
    assert (parsed.kind, parsed.name, parsed.generation) == ("tickermodel", "aapl", 7)
    assert str(TaskId("analysis", "gspc", 2)) == "analysis/gspc/2"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "three parts"),
        ("tickermodel/aapl", "three parts"),
        ("tickermodel/aapl/1/extra", "three parts"),
        ("job/aapl/1", "kind 'job'"),
        ("TickerModel/aapl/1", "kind"),
        ("tickermodel/aapl/0", "generation '0'"),
        ("tickermodel/aapl/01", "generation"),
        ("tickermodel/aapl/-1", "generation"),
        ("tickermodel/aapl/x", "generation"),
        ("tickermodel/AAPL/1", "name 'AAPL'"),
        ("tickermodel/../1", "name"),
        ("tickermodel//1", "name"),
        ("tickermodel/aapl-/1", "name"),
        ("tickermodel/" + "a" * 64 + "/1", "name"),
        ("x" * 201, "at most 200"),
    ],
)
def test_bad_task_ids_name_the_part_at_fault(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        TaskId.parse(text)


def test_a_task_id_cannot_be_built_with_a_bad_part() -> None:
    with pytest.raises(ValueError, match="generation"):
        TaskId("tickermodel", "aapl", 0)
    with pytest.raises(ValueError, match="kind"):
        TaskId("job", "aapl", 1)  # type: ignore[arg-type]


def test_training_kinds_map_to_resource_kinds() -> None:
    assert task_kind("parent") == "parentmodel"
    assert task_kind("child") == "tickermodel"
