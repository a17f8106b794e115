"""Request parsing of the predictor: good bodies become queries, bad ones a message naming the field."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from stockops.predictor.requests import (
    MAX_INSTANCES,
    LatestQuery,
    RequestError,
    ServingShape,
    Tensor,
    WindowQuery,
    parse_v1_body,
    parse_v2_inputs,
)

COLUMNS = ("log_return", "rsi_norm", "volatility_20")
SHAPE = ServingShape(ticker="AAPL", feature_columns=COLUMNS, context_days=4, horizon_days=5)


def window(rows: int = 4, cols: int = 3, value: float = 0.01) -> list[list[float]]:
    return [[value] * cols for _ in range(rows)]


def explicit(**overrides: object) -> dict[str, object]:
    instance: dict[str, object] = {"window": window(), "as_of": "2024-05-31", "last_close": 191.5}
    instance.update(overrides)
    return instance


# -- V1: accepted ------------------------------------------------------------------------------------


def test_days_only_instance_asks_for_the_latest_window() -> None:
    assert parse_v1_body({"instances": [{"days": 3}]}, SHAPE) == [LatestQuery(days=3)]


def test_days_default_to_the_model_horizon() -> None:
    assert parse_v1_body({"instances": [{}]}, SHAPE) == [LatestQuery(days=5)]


def test_ticker_matching_is_case_insensitive() -> None:
    assert parse_v1_body({"instances": [{"ticker": "aapl", "days": 1}]}, SHAPE) == [LatestQuery(days=1)]


def test_explicit_window_becomes_a_float_array_with_its_date_and_close() -> None:
    (query,) = parse_v1_body({"instances": [explicit(days=2)]}, SHAPE)
    assert isinstance(query, WindowQuery)
    assert query.days == 2 and query.as_of == date(2024, 5, 31) and query.last_close == 191.5
    assert query.window.shape == (4, 3) and query.window.dtype == np.float64


def test_integers_are_accepted_as_feature_values() -> None:
    (query,) = parse_v1_body({"instances": [explicit(window=[[0, 1, 2]] * 4)]}, SHAPE)
    assert isinstance(query, WindowQuery)
    assert query.window[0].tolist() == [0.0, 1.0, 2.0]


def test_raw_json_bytes_are_decoded() -> None:
    assert parse_v1_body(b'{"instances": [{"days": 2}]}', SHAPE) == [LatestQuery(days=2)]


# -- V1: rejected, each with the field named ---------------------------------------------------------

MALFORMED_V1: list[tuple[str, object, str]] = [
    ("body is a list", [{"days": 5}], "body"),
    ("body is a string", "days=5", "body"),
    ("body is not JSON", b"{days: 5}", "body"),
    ("instances missing", {}, "instances"),
    ("instances not a list", {"instances": {"days": 5}}, "instances"),
    ("instances empty", {"instances": []}, "instances"),
    ("too many instances", {"instances": [{"days": 1}] * (MAX_INSTANCES + 1)}, "instances"),
    ("unknown top-level field", {"instances": [{"days": 1}], "inputs": []}, "inputs"),
    ("instance not an object", {"instances": [5]}, "instances[0]"),
    ("unknown instance field", {"instances": [{"days": 1, "horizon": 3}]}, "instances[0].horizon"),
    ("days is a string", {"instances": [{"days": "5"}]}, "instances[0].days"),
    ("days is a float", {"instances": [{"days": 2.5}]}, "instances[0].days"),
    ("days is a boolean", {"instances": [{"days": True}]}, "instances[0].days"),
    ("days is null", {"instances": [{"days": None}]}, "instances[0].days"),
    ("days is zero", {"instances": [{"days": 0}]}, "instances[0].days"),
    ("days past the horizon", {"instances": [{"days": 6}]}, "instances[0].days"),
    ("days negative", {"instances": [{"days": -1}]}, "instances[0].days"),
    ("other ticker", {"instances": [{"ticker": "MSFT"}]}, "instances[0].ticker"),
    ("ticker not a string", {"instances": [{"ticker": 1}]}, "instances[0].ticker"),
    ("as_of without window", {"instances": [{"days": 1, "as_of": "2024-05-31"}]}, "instances[0].as_of"),
    ("last_close without window", {"instances": [{"last_close": 10.0}]}, "instances[0].last_close"),
    ("window without as_of", {"instances": [{"window": window(), "last_close": 1.0}]}, "instances[0].as_of"),
    ("window without last_close", {"instances": [{"window": window(), "as_of": "2024-05-31"}]}, "last_close"),
    ("window not a list", {"instances": [explicit(window="[[1]]")]}, "instances[0].window"),
    ("window too few rows", {"instances": [explicit(window=window(rows=3))]}, "instances[0].window"),
    ("window too many rows", {"instances": [explicit(window=window(rows=5))]}, "instances[0].window"),
    ("window row too short", {"instances": [explicit(window=[*window(rows=3), [0.1, 0.2]])]}, "window[3]"),
    ("window row not a list", {"instances": [explicit(window=[*window(rows=3), 0.1])]}, "window[3]"),
    ("window 3-d", {"instances": [explicit(window=[window()])]}, "instances[0].window"),
    (
        "window value a string",
        {"instances": [explicit(window=[["0.1", 0.2, 0.3], *window(3)])]},
        "window[0][0]",
    ),
    ("window value null", {"instances": [explicit(window=[[0.1, None, 0.3], *window(3)])]}, "window[0][1]"),
    (
        "window value boolean",
        {"instances": [explicit(window=[[0.1, 0.2, False], *window(3)])]},
        "window[0][2]",
    ),
    ("window value NaN", {"instances": [explicit(window=[*window(3), [0.1, math.nan, 0.3]])]}, "window"),
    ("window value infinite", {"instances": [explicit(window=[[math.inf, 0.2, 0.3], *window(3)])]}, "window"),
    ("as_of not a date", {"instances": [explicit(as_of="yesterday")]}, "instances[0].as_of"),
    ("as_of impossible date", {"instances": [explicit(as_of="2024-02-30")]}, "instances[0].as_of"),
    ("as_of compact form", {"instances": [explicit(as_of="20240531")]}, "instances[0].as_of"),
    ("as_of a number", {"instances": [explicit(as_of=20240531)]}, "instances[0].as_of"),
    ("last_close zero", {"instances": [explicit(last_close=0)]}, "instances[0].last_close"),
    ("last_close negative", {"instances": [explicit(last_close=-3.0)]}, "instances[0].last_close"),
    ("last_close a string", {"instances": [explicit(last_close="191.5")]}, "instances[0].last_close"),
    ("last_close infinite", {"instances": [explicit(last_close=math.inf)]}, "instances[0].last_close"),
    ("second instance bad", {"instances": [{"days": 1}, {"days": 99}]}, "instances[1].days"),
]


@pytest.mark.parametrize(("case", "body", "field"), MALFORMED_V1, ids=[c[0] for c in MALFORMED_V1])
def test_malformed_v1_body_names_the_field(case: str, body: object, field: str) -> None:
    with pytest.raises(RequestError) as info:
        parse_v1_body(body, SHAPE)
    assert field in info.value.field, f"{case}: error {info.value} does not name {field}"
    assert str(info.value).startswith(info.value.field + ": ")
    assert len(info.value.problem) > 10


def test_non_finite_value_reports_row_and_feature_name() -> None:
    bad = [*window(3), [0.1, math.nan, 0.3]]
    with pytest.raises(RequestError, match=r"row 3, feature 'rsi_norm'"):
        parse_v1_body({"instances": [explicit(window=bad)]}, SHAPE)


def test_days_error_states_the_allowed_range() -> None:
    with pytest.raises(RequestError, match="from 1 to 5"):
        parse_v1_body({"instances": [{"days": 6}]}, SHAPE)


def test_unknown_field_error_lists_the_allowed_fields() -> None:
    with pytest.raises(RequestError, match="days, ticker, window, as_of, last_close"):
        parse_v1_body({"instances": [{"dayz": 1}]}, SHAPE)


# -- V2 ------------------------------------------------------------------------------------------


def v2_window_inputs(n: int = 2, days: int | None = 3) -> list[Tensor]:
    tensors = [
        Tensor("window", "FP32", (n, 4, 3), [0.01] * (n * 12)),
        Tensor("as_of", "BYTES", (n,), ["2024-05-31"] * n),
        Tensor("last_close", "FP64", (n,), [100.0 + i for i in range(n)]),
    ]
    if days is not None:
        tensors.append(Tensor("days", "INT32", (n,), [days] * n))
    return tensors


def test_v2_days_tensor_gives_one_latest_query_per_row() -> None:
    assert parse_v2_inputs([Tensor("days", "INT32", (3,), [2, 2, 2])], SHAPE) == [LatestQuery(days=2)] * 3


def test_v2_window_tensors_give_one_window_query_per_row() -> None:
    queries = parse_v2_inputs(v2_window_inputs(), SHAPE)
    assert [type(q) for q in queries] == [WindowQuery, WindowQuery]
    assert [q.last_close for q in queries if isinstance(q, WindowQuery)] == [100.0, 101.0]
    assert all(q.days == 3 for q in queries)


def test_v2_nested_data_is_accepted_like_flat_data() -> None:
    nested = [[[0.01] * 3] * 4] * 2
    tensors = [Tensor("window", "FP64", (2, 4, 3), nested), *v2_window_inputs()[1:]]
    assert len(parse_v2_inputs(tensors, SHAPE)) == 2


def test_v2_binary_numpy_data_is_accepted() -> None:
    tensors = [Tensor("days", "INT64", (2,), np.array([1, 1], dtype=np.int64))]
    assert parse_v2_inputs(tensors, SHAPE) == [LatestQuery(days=1)] * 2


def test_v2_window_without_days_uses_the_horizon() -> None:
    queries = parse_v2_inputs(v2_window_inputs(days=None), SHAPE)
    assert all(q.days == 5 for q in queries)


MALFORMED_V2: list[tuple[str, list[Tensor], str]] = [
    ("no inputs", [], "inputs"),
    ("unknown input", [Tensor("horizon", "INT32", (1,), [1])], "inputs.horizon"),
    (
        "duplicate input",
        [Tensor("days", "INT32", (1,), [1]), Tensor("days", "INT32", (1,), [1])],
        "inputs.days",
    ),
    ("days as float datatype", [Tensor("days", "FP32", (1,), [1.0])], "inputs.days.datatype"),
    ("days value a float", [Tensor("days", "INT32", (1,), [1.5])], "inputs.days[0]"),
    ("days out of range", [Tensor("days", "INT32", (2,), [1, 7])], "inputs.days[1]"),
    ("days differ per row", [Tensor("days", "INT32", (2,), [1, 2])], "inputs.days"),
    ("days shape 2-d", [Tensor("days", "INT32", (1, 1), [1])], "inputs.days"),
    ("days count mismatch", [Tensor("days", "INT32", (2,), [1])], "inputs.days"),
    ("zero rows", [Tensor("days", "INT32", (0,), [])], "inputs.days"),
    (
        "as_of without window",
        [Tensor("days", "INT32", (1,), [1]), Tensor("as_of", "BYTES", (1,), ["x"])],
        "as_of",
    ),
    ("window without as_of", [t for t in v2_window_inputs() if t.name != "as_of"], "inputs.as_of"),
    (
        "window wrong shape",
        [Tensor("window", "FP32", (2, 5, 3), [0.0] * 30), *v2_window_inputs()[1:]],
        "window",
    ),
    (
        "window wrong datatype",
        [Tensor("window", "INT32", (2, 4, 3), [0] * 24), *v2_window_inputs()[1:]],
        "window",
    ),
    (
        "window NaN",
        [Tensor("window", "FP32", (2, 4, 3), [0.0] * 23 + [math.nan]), *v2_window_inputs()[1:]],
        "window",
    ),
    (
        "window string value",
        [Tensor("window", "FP32", (2, 4, 3), ["a"] + [0.0] * 23), *v2_window_inputs()[1:]],
        "window",
    ),
    (
        "as_of bad date",
        [
            *v2_window_inputs()[:1],
            Tensor("as_of", "BYTES", (2,), ["2024-05-31", "2024-13-01"]),
            *v2_window_inputs()[2:],
        ],
        "inputs.as_of[1]",
    ),
    (
        "last_close negative",
        [*v2_window_inputs()[:2], Tensor("last_close", "FP64", (2,), [1.0, -1.0])],
        "inputs.last_close[1]",
    ),
    (
        "last_close rows mismatch",
        [*v2_window_inputs()[:2], Tensor("last_close", "FP64", (3,), [1.0] * 3)],
        "inputs.last_close",
    ),
    (
        "ticker other",
        [Tensor("days", "INT32", (1,), [1]), Tensor("ticker", "BYTES", (1,), ["TSLA"])],
        "ticker[0]",
    ),
]


@pytest.mark.parametrize(("case", "tensors", "field"), MALFORMED_V2, ids=[c[0] for c in MALFORMED_V2])
def test_malformed_v2_inputs_name_the_field(case: str, tensors: list[Tensor], field: str) -> None:
    with pytest.raises(RequestError) as info:
        parse_v2_inputs(tensors, SHAPE)
    assert field in info.value.field, f"{case}: error {info.value} does not name {field}"
