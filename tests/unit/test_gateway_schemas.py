"""Request models: strict, unknown fields refused, tickers normalised, errors on the right field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from stockops.gateway.schemas import (
    AnalyzeRequest,
    PredictChildRequest,
    PredictParentRequest,
    TrainChildRequest,
    TrainParentRequest,
)


def error_field(model: type[BaseModel], body: Any) -> tuple[str, str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(body)
    first = info.value.errors()[0]
    return ".".join(str(p) for p in first["loc"]), first["msg"]


def test_a_forecast_request_normalises_the_ticker_and_defaults_days() -> None:
    request = PredictChildRequest.model_validate({"ticker": " aapl "})
    assert (request.ticker, request.days) == ("AAPL", 5)
    assert PredictParentRequest.model_validate({}).ticker == "^GSPC"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"ticker": "AAPL", "days": 0}, "days", "horizon"),
        ({"ticker": "AAPL", "days": -1}, "days", "horizon"),
        ({"ticker": "AAPL", "days": 251}, "days", "250"),
        ({"ticker": "AAPL", "days": "5"}, "days", "integer"),
        ({"ticker": "AAPL", "days": 5.0}, "days", "integer"),
        ({"ticker": "AAPL", "days": True}, "days", "integer"),
        ({"ticker": "AAPL", "days": None}, "days", "integer"),
        ({"ticker": "AAPL", "days": 5, "model": "x"}, "model", "Extra"),
        ({"days": 5}, "ticker", "required"),
        ({"ticker": "../../etc", "days": 5}, "ticker", "not a ticker"),
        ({"ticker": ["AAPL"], "days": 5}, "ticker", "string"),
        ({"ticker": "", "days": 5}, "ticker", "not a ticker"),
    ],
)
def test_bad_forecast_requests_name_the_field(body: dict[str, Any], field: str, message: str) -> None:
    got_field, got_message = error_field(PredictChildRequest, body)
    assert got_field == field
    assert message in got_message


def test_days_within_the_largest_horizon_are_accepted() -> None:
    assert PredictChildRequest.model_validate({"ticker": "AAPL", "days": 250}).days == 250


def test_train_child_options() -> None:
    request = TrainChildRequest.model_validate(
        {"ticker": "msft", "parent": "^gspc", "strategy": "freeze", "epochs": 3}
    )
    assert (request.ticker, request.parent, request.strategy, request.epochs) == (
        "MSFT",
        "^GSPC",
        "freeze",
        3,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ticker": "AAPL", "parent": "aapl"}, "parent"),
        ({"ticker": "AAPL", "strategy": "melt"}, "strategy"),
        ({"ticker": "AAPL", "epochs": 0}, "epochs"),
        ({"ticker": "AAPL", "epochs": 1001}, "epochs"),
        ({"ticker": "AAPL", "lr": 0.1}, "lr"),
    ],
)
def test_bad_training_requests_name_the_field(body: dict[str, Any], field: str) -> None:
    assert error_field(TrainChildRequest, body)[0] == field


def test_train_parent_defaults_to_the_index() -> None:
    assert TrainParentRequest.model_validate({}).ticker == "^GSPC"
    assert error_field(TrainParentRequest, {"ticker": "^GSPC", "epochs": "3"})[0] == "epochs"


def test_questions_collapse_whitespace_and_have_bounds() -> None:
    request = AnalyzeRequest.model_validate({"ticker": "aapl", "question": "  Is   it\nvolatile?  "})
    assert request.question == "Is it volatile?"
    assert error_field(AnalyzeRequest, {"ticker": "AAPL", "question": " hi "})[0] == "question"
    field, message = error_field(AnalyzeRequest, {"ticker": "AAPL", "question": "x" * 2001})
    assert field == "question" and "2000" in message
    assert error_field(AnalyzeRequest, {"ticker": "AAPL", "question": 42})[0] == "question"


def test_requests_are_documented_with_their_bounds() -> None:
    schema = PredictChildRequest.model_json_schema()
    assert schema["additionalProperties"] is False
    assert schema["properties"]["days"]["maximum"] == 250
    assert schema["properties"]["ticker"]["pattern"].startswith("^\\^?")
