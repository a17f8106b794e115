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


# -- the default gate: not worse than the random walk, not significantly worse than production --------


def test_default_gate_refuses_negative_skill_and_names_the_figures() -> None:
    from stockops.registry.promotion import DEFAULT_MIN_SKILL

    d = decide_promotion(
        new_version="5",
        new_skill=-0.001,
        min_skill=DEFAULT_MIN_SKILL,
        current_version=None,
        skill_interval=(-0.01, 0.008),
    )
    assert DEFAULT_MIN_SKILL == 0.0 and not d.promote
    assert "skill -0.0010 [95% -0.0100, +0.0080] < gate +0.0000" in d.reason


def test_a_no_edge_model_passes_the_default_gate_and_is_labelled() -> None:
    d = decide_promotion(new_version="1", new_skill=0.0, min_skill=0.0, current_version=None, no_edge=True)
    assert d.promote and "no edge over the random walk" in d.reason


def test_a_version_significantly_worse_than_production_is_refused() -> None:
    from stockops.registry.promotion import VersionComparison

    worse = VersionComparison("2", difference=-0.03, low=-0.05, high=-0.01, n_windows=120)
    d = decide_promotion(
        new_version="3", new_skill=0.01, min_skill=0.0, current_version="2", comparison=worse
    )
    assert not d.promote and "significantly worse than production" in d.reason
    assert "skill difference -0.0300 [95% -0.0500, -0.0100]" in d.reason and "version 2 stays" in d.reason

    close = VersionComparison("2", difference=-0.01, low=-0.03, high=0.01, n_windows=120)
    assert decide_promotion(
        new_version="3", new_skill=0.01, min_skill=0.0, current_version="2", comparison=close
    ).promote


def test_production_is_compared_only_on_days_it_never_saw() -> None:
    import numpy as np
    import pandas as pd

    from stockops.model.comparison import compare_versions

    rng = np.random.default_rng(0)
    n = 200
    true = rng.normal(scale=0.01, size=(n, 2))
    dates = pd.bdate_range("2024-01-01", periods=n)
    args = {
        "production_version": "2",
        "new_log_ret": np.zeros_like(true),
        "production_log_ret": 0.9 * true,  # a production version that "knows" the answers
        "true_log_ret": true,
        "last_close": np.full(n, 100.0),
        "anchor_dates": dates,
    }
    seen_everything = compare_versions(**args, production_seen_until=dates[-1].date())
    assert seen_everything.difference is None and "1 unseen test windows" in seen_everything.note

    unseen = compare_versions(**args, production_seen_until=dates[100].date())
    assert unseen.n_windows == 100 and unseen.significantly_worse  # the naive model loses to it there


def test_a_synthetic_model_is_promoted_only_where_allowed() -> None:
    refused = decide_promotion(
        new_version="2",
        new_skill=0.01,
        min_skill=0.0,
        current_version="1",
        synthetic=True,
        allow_synthetic=False,
    )
    assert not refused.promote
    assert (
        "synthetic" in refused.reason and "allowSynthetic" in refused.reason and "1 stays" in refused.reason
    )
    allowed = decide_promotion(
        new_version="2",
        new_skill=0.01,
        min_skill=0.0,
        current_version="1",
        synthetic=True,
        allow_synthetic=True,
    )
    assert allowed.promote
    real = decide_promotion(
        new_version="2",
        new_skill=0.01,
        min_skill=0.0,
        current_version="1",
        synthetic=False,
        allow_synthetic=False,
    )
    assert real.promote
