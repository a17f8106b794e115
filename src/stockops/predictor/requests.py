"""Request bodies -> forecast queries, or a `RequestError` that names the field at fault and why.

Pure (no KServe, no I/O) so every malformed shape is pinned by fast unit tests; the model server turns a
`RequestError` into KServe's `InvalidInput`, i.e. an HTTP 400 whose body carries the message.

Two protocols, one result type:

V1 ``POST /v1/models/<name>:predict``::

    {"instances": [{"days": 5}]}                                 # latest window from the online store
    {"instances": [{"window": [[...], ...], "as_of": "2024-05-31", "last_close": 191.3, "days": 3}]}

  Instance fields: ``days`` (int, 1..horizon; default horizon), ``ticker`` (optional; must be the served
  ticker), and together ``window`` (context_days rows of n_features raw feature values in the model's
  column order, as of the close of ``as_of``), ``as_of`` (YYYY-MM-DD) and ``last_close`` (> 0).

V2 ``POST /v2/models/<name>/infer`` with named tensors (one row per instance, n rows):

  ============  ============  ==========================  =========================================
  name          datatype      shape                       meaning
  ============  ============  ==========================  =========================================
  days          INT32|INT64   [n]                         required without ``window``; all equal
  window        FP32|FP64     [n, context_days, features] explicit raw feature windows
  as_of         BYTES         [n]                         required with ``window``
  last_close    FP64|FP32     [n]                         required with ``window``
  ticker        BYTES         [n]                         optional; must be the served ticker
  ============  ============  ==========================  =========================================

  All instances of one V2 request ask for the same number of days so the output tensors are rectangular.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

MAX_INSTANCES = 256
V1_INSTANCE_FIELDS = ("days", "ticker", "window", "as_of", "last_close")
V2_INPUT_DATATYPES: Mapping[str, tuple[str, ...]] = {
    "days": ("INT32", "INT64"),
    "window": ("FP32", "FP64"),
    "as_of": ("BYTES",),
    "last_close": ("FP64", "FP32"),
    "ticker": ("BYTES",),
}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class RequestError(ValueError):
    """A request the server cannot answer; ``field`` says where (e.g. ``instances[2].days``)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


@dataclass(frozen=True)
class ServingShape:
    """What the served model accepts, taken from its bundle at load time."""

    ticker: str
    feature_columns: tuple[str, ...]
    context_days: int
    horizon_days: int

    @property
    def n_features(self) -> int:
        return len(self.feature_columns)


@dataclass(frozen=True)
class LatestQuery:
    """Forecast from the latest window the server knows (online store / data source)."""

    days: int


@dataclass(frozen=True, eq=False)
class WindowQuery:
    """Forecast from a window the caller sent; ``window`` is (context_days, n_features) float64."""

    days: int
    window: np.ndarray
    as_of: date
    last_close: float


ForecastQuery = LatestQuery | WindowQuery


@dataclass(frozen=True)
class Tensor:
    """One V2 input tensor as received: ``data`` is the JSON list (flat or nested) or a numpy array."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: Any


# -- shared field parsers ------------------------------------------------------------------------


def _show(value: Any) -> str:
    """A short description of a JSON value for error messages: its JSON type and a clipped repr."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {text!r}"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_number(value: Any) -> bool:
    """int or float (JSON numbers) or a numpy number; never a bool (bool is an int subclass)."""
    kind = type(value)
    if kind is float or kind is int:  # the common case first: a window has hundreds of values
        return True
    return isinstance(value, np.integer | np.floating)


def parse_days(value: Any, field: str, shape: ServingShape) -> int:
    horizon = shape.horizon_days
    if not _is_int(value):
        raise RequestError(field, f"must be an integer from 1 to {horizon}, got {_show(value)}")
    if not 1 <= int(value) <= horizon:
        raise RequestError(
            field, f"must be from 1 to {horizon} (the model's horizon in trading days), got {value}"
        )
    return int(value)


def parse_ticker(value: Any, field: str, shape: ServingShape) -> str:
    if not isinstance(value, str):
        raise RequestError(field, f"must be a string, got {_show(value)}")
    if value.strip().upper() != shape.ticker.upper():
        raise RequestError(
            field, f"this server serves {shape.ticker}, not {value!r}; call that ticker's server"
        )
    return shape.ticker


def parse_as_of(value: Any, field: str) -> date:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        raise RequestError(field, f"must be a date string YYYY-MM-DD, got {_show(value)}")
    if not _ISO_DATE.match(value):
        raise RequestError(field, f"must be a date in the form YYYY-MM-DD, got {value[:40]!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise RequestError(field, f"{value!r} is not a calendar date ({exc})") from exc


def parse_last_close(value: Any, field: str) -> float:
    if not _is_number(value):
        raise RequestError(field, f"must be a positive number (the close on as_of), got {_show(value)}")
    close = float(value)
    if not math.isfinite(close) or close <= 0:
        raise RequestError(field, f"must be a finite price greater than 0, got {value!r}")
    return close


def check_window_values(array: np.ndarray, field: str, shape: ServingShape) -> None:
    """Every value finite; the first bad one is reported with its row and feature name."""
    bad = ~np.isfinite(array)
    if bad.any():
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        *lead, row, col = position
        where = "".join(f"[{i}]" for i in lead)
        raise RequestError(
            f"{field}{where}",
            f"value at row {row}, feature {shape.feature_columns[col]!r} is {float(array[position])!r}; "
            "all feature values must be finite",
        )


def _expected_window(shape: ServingShape) -> str:
    return (
        f"{shape.context_days} rows (context days, oldest first) of {shape.n_features} numbers "
        f"(features {list(shape.feature_columns)})"
    )


def parse_window_rows(value: Any, field: str, shape: ServingShape) -> np.ndarray:
    """A JSON list of rows -> (context_days, n_features) float64, checking type and shape first."""
    if not isinstance(value, list):
        raise RequestError(field, f"must be a list of {_expected_window(shape)}, got {_show(value)}")
    if len(value) != shape.context_days:
        raise RequestError(field, f"must have {_expected_window(shape)}; got {len(value)} rows")
    for r, row in enumerate(value):
        if not isinstance(row, list):
            raise RequestError(
                f"{field}[{r}]", f"must be a list of {shape.n_features} numbers, got {_show(row)}"
            )
        if len(row) != shape.n_features:
            raise RequestError(
                f"{field}[{r}]",
                f"must have {shape.n_features} numbers (features {list(shape.feature_columns)}), "
                f"got {len(row)}",
            )
        for c, item in enumerate(row):
            if not _is_number(item):
                raise RequestError(
                    f"{field}[{r}][{c}]",
                    f"feature {shape.feature_columns[c]!r} must be a number, got {_show(item)}",
                )
    array = np.asarray(value, dtype=np.float64)
    check_window_values(array, field, shape)
    return array


# -- V1 ------------------------------------------------------------------------------------------


def decode_json_body(body: bytes | bytearray | str) -> Any:
    """A raw body KServe did not decode (it only decodes JSON content types; ``curl -d`` sends a form
    type) parsed as JSON. Python's decoder accepts NaN/Infinity literals: the field checks catch them."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError("body", f"is not valid JSON ({exc})") from exc


def parse_v1_body(body: Any, shape: ServingShape) -> list[ForecastQuery]:
    """A V1 body (decoded, or raw bytes) -> one query per instance (raises `RequestError`)."""
    if isinstance(body, bytes | bytearray | str):
        body = decode_json_body(body)
    if not isinstance(body, dict):
        raise RequestError(
            "body", f'must be a JSON object like {{"instances": [{{"days": 5}}]}}, got {_show(body)}'
        )
    unknown = sorted(str(k) for k in body if k != "instances")
    if unknown:
        raise RequestError(unknown[0], 'unknown top-level field; a V1 request has only "instances"')
    if "instances" not in body:
        raise RequestError("instances", 'missing; send {"instances": [{"days": 5}]}')
    instances = body["instances"]
    if not isinstance(instances, list):
        raise RequestError("instances", f"must be a list of objects, got {_show(instances)}")
    if not instances:
        raise RequestError("instances", "must hold at least one instance")
    if len(instances) > MAX_INSTANCES:
        raise RequestError(
            "instances", f"at most {MAX_INSTANCES} instances per request, got {len(instances)}"
        )
    return [parse_v1_instance(item, f"instances[{i}]", shape) for i, item in enumerate(instances)]


def parse_v1_instance(item: Any, field: str, shape: ServingShape) -> ForecastQuery:
    if not isinstance(item, dict):
        raise RequestError(field, f'must be an object like {{"days": 5}}, got {_show(item)}')
    unknown = sorted(str(k) for k in item if k not in V1_INSTANCE_FIELDS)
    if unknown:
        raise RequestError(
            f"{field}.{unknown[0]}", f"unknown field; an instance may have {', '.join(V1_INSTANCE_FIELDS)}"
        )
    if "ticker" in item:
        parse_ticker(item["ticker"], f"{field}.ticker", shape)
    days = parse_days(item["days"], f"{field}.days", shape) if "days" in item else shape.horizon_days
    if "window" not in item:
        for name in ("as_of", "last_close"):
            if name in item:
                raise RequestError(
                    f"{field}.{name}", "is only accepted together with window (the latest window has its own)"
                )
        return LatestQuery(days=days)
    for name in ("as_of", "last_close"):
        if name not in item:
            raise RequestError(f"{field}.{name}", "is required when window is given")
    window = parse_window_rows(item["window"], f"{field}.window", shape)
    return WindowQuery(
        days=days,
        window=window,
        as_of=parse_as_of(item["as_of"], f"{field}.as_of"),
        last_close=parse_last_close(item["last_close"], f"{field}.last_close"),
    )


# -- V2 ------------------------------------------------------------------------------------------


def _flatten(data: Any, field: str, limit: int) -> list[Any]:
    """JSON tensor data (flat or nested row-major lists) or a numpy array -> flat list."""
    if isinstance(data, np.ndarray):
        return data.ravel().tolist()
    if not isinstance(data, list):
        raise RequestError(field, f"data must be a list, got {_show(data)}")
    flat: list[Any] = []
    stack: list[Any] = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
            if len(flat) > limit:
                raise RequestError(field, f"data holds more than the {limit} values its shape declares")
        else:
            stack.pop()
    return flat


def _tensor_values(tensor: Tensor, field: str, rows: int, row_shape: tuple[int, ...]) -> list[Any]:
    expected = (rows, *row_shape)
    if tensor.shape != expected:
        raise RequestError(field, f"shape must be {list(expected)}, got {list(tensor.shape)}")
    count = math.prod(expected)
    values = _flatten(tensor.data, field, count)
    if len(values) != count:
        raise RequestError(field, f"shape {list(expected)} needs {count} values, data has {len(values)}")
    return values


def _batch_size(tensor: Tensor, field: str) -> int:
    if not tensor.shape or not all(_is_int(d) for d in tensor.shape):
        raise RequestError(field, f"shape must be a non-empty list of integers, got {list(tensor.shape)}")
    n = tensor.shape[0]
    if not 1 <= n <= MAX_INSTANCES:
        raise RequestError(field, f"first dimension (instances) must be from 1 to {MAX_INSTANCES}, got {n}")
    return int(n)


def parse_v2_inputs(tensors: Sequence[Tensor], shape: ServingShape) -> list[ForecastQuery]:
    """V2 named input tensors -> one query per row (raises `RequestError`)."""
    by_name: dict[str, Tensor] = {}
    for i, tensor in enumerate(tensors):
        field = f"inputs[{i}]" if not isinstance(tensor.name, str) else f"inputs.{tensor.name}"
        if tensor.name not in V2_INPUT_DATATYPES:
            raise RequestError(field, f"unknown input; known inputs are {', '.join(V2_INPUT_DATATYPES)}")
        if tensor.name in by_name:
            raise RequestError(field, "given more than once")
        allowed = V2_INPUT_DATATYPES[tensor.name]
        if tensor.datatype not in allowed:
            raise RequestError(
                f"{field}.datatype", f"must be {' or '.join(allowed)}, got {tensor.datatype!r}"
            )
        by_name[tensor.name] = tensor
    if not by_name:
        raise RequestError("inputs", "at least one input is needed: days, or window + as_of + last_close")

    window_t = by_name.get("window")
    if window_t is None:
        for name in ("as_of", "last_close"):
            if name in by_name:
                raise RequestError(f"inputs.{name}", "is only accepted together with the window input")
        if "days" not in by_name:
            raise RequestError("inputs.days", "is required when no window is sent")
        n = _batch_size(by_name["days"], "inputs.days")
    else:
        for name in ("as_of", "last_close"):
            if name not in by_name:
                raise RequestError(f"inputs.{name}", "is required when the window input is given")
        n = _batch_size(window_t, "inputs.window")

    days = shape.horizon_days
    if "days" in by_name:
        values = _tensor_values(by_name["days"], "inputs.days", n, ())
        parsed = [parse_days(v, f"inputs.days[{i}]", shape) for i, v in enumerate(values)]
        if len(set(parsed)) != 1:
            raise RequestError(
                "inputs.days", f"all rows of one V2 request must ask for the same days, got {parsed}"
            )
        days = parsed[0]
    if "ticker" in by_name:
        values = _tensor_values(by_name["ticker"], "inputs.ticker", n, ())
        for i, v in enumerate(values):
            parse_ticker(
                v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v,
                f"inputs.ticker[{i}]",
                shape,
            )
    if window_t is None:
        return [LatestQuery(days=days) for _ in range(n)]

    flat = _tensor_values(window_t, "inputs.window", n, (shape.context_days, shape.n_features))
    for j, item in enumerate(flat):
        if not _is_number(item):
            i, rest = divmod(j, shape.context_days * shape.n_features)
            row, col = divmod(rest, shape.n_features)
            raise RequestError(
                f"inputs.window[{i}][{row}][{col}]",
                f"feature {shape.feature_columns[col]!r} must be a number, got {_show(item)}",
            )
    windows = np.asarray(flat, dtype=np.float64).reshape(n, shape.context_days, shape.n_features)
    check_window_values(windows, "inputs.window", shape)
    as_ofs = [
        parse_as_of(v, f"inputs.as_of[{i}]")
        for i, v in enumerate(_tensor_values(by_name["as_of"], "inputs.as_of", n, ()))
    ]
    closes = [
        parse_last_close(v, f"inputs.last_close[{i}]")
        for i, v in enumerate(_tensor_values(by_name["last_close"], "inputs.last_close", n, ()))
    ]
    return [
        WindowQuery(days=days, window=windows[i], as_of=as_ofs[i], last_close=closes[i]) for i in range(n)
    ]
