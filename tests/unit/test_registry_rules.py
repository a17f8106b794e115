"""Registry naming and the promotion gate."""

from __future__ import annotations

import math

import pytest

from stockops.registry import decide_promotion, registered_model_name


@pytest.mark.parametrize(
    ("ticker", "name"),
    [
        ("^GSPC", "stockops-gspc"),
        ("AAPL", "stockops-aapl"),
        ("BRK.B", "stockops-brk-b"),
        ("brk-a", "stockops-brk-a"),
    ],
)
def test_registered_model_name(ticker: str, name: str) -> None:
    assert registered_model_name(ticker) == name


def test_registered_model_name_rejects_empty_ticker() -> None:
    with pytest.raises(ValueError, match="no letters or digits"):
        registered_model_name("^^")


def test_gate_promotes_at_threshold_and_names_replaced_version() -> None:
    d = decide_promotion(new_version="3", new_skill=-0.02, min_skill=-0.02, current_version="2")
    assert d.promote
    assert "replaces version 2" in d.reason


def test_gate_keeps_previous_production_when_skill_too_low() -> None:
    d = decide_promotion(new_version="4", new_skill=-0.5, min_skill=-0.02, current_version="2")
    assert not d.promote
    assert "version 2 stays production" in d.reason
    assert "-0.5000 < gate -0.0200" in d.reason


def test_gate_without_any_production_says_so() -> None:
    d = decide_promotion(new_version="1", new_skill=-1.0, min_skill=0.0, current_version=None)
    assert not d.promote
    assert "no version is production yet" in d.reason


def test_gate_never_promotes_nan_skill() -> None:
    assert not decide_promotion(
        new_version="1", new_skill=math.nan, min_skill=-1e9, current_version=None
    ).promote
