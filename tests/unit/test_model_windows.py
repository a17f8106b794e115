"""Windows: inputs are the last `context` rows up to the anchor, targets cumulative log returns."""

from __future__ import annotations

import numpy as np
import pytest

from stockops.model.windows import latest_window, make_windows

FEATURES = np.array([[i, 10.0 * i] for i in range(6)])
CLOSES = np.array([10.0, 11.0, 12.0, 15.0, 9.0, 20.0])


def test_windows_have_hand_computed_shapes_and_values() -> None:
    w = make_windows(FEATURES, CLOSES, context=3, horizon=2)

    assert len(w) == 2  # 6 - 3 - 2 + 1
    assert w.x.shape == (2, 3, 2) and w.x.dtype == np.float32
    np.testing.assert_array_equal(w.x[0], FEATURES[0:3])
    np.testing.assert_array_equal(w.x[1], FEATURES[1:4])
    np.testing.assert_array_equal(w.anchor, [2, 3])
    np.testing.assert_array_equal(w.last_close, [12.0, 15.0])
    np.testing.assert_allclose(w.y[0], [np.log(15 / 12), np.log(9 / 12)])
    np.testing.assert_allclose(w.y[1], [np.log(9 / 15), np.log(20 / 15)])


def test_targets_turn_back_into_the_future_closes() -> None:
    rng = np.random.default_rng(3)
    closes = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, 200)))
    w = make_windows(rng.normal(size=(200, 4)), closes, context=30, horizon=5)

    rows = w.anchor[:, None] + np.arange(1, 6)
    np.testing.assert_allclose(w.last_close[:, None] * np.exp(w.y), closes[rows], rtol=1e-12)
    assert w.x.flags["C_CONTIGUOUS"]


def test_too_short_series_is_refused_with_the_numbers() -> None:
    with pytest.raises(ValueError, match=r"6 days, need at least .* = 7"):
        make_windows(FEATURES, CLOSES, context=5, horizon=2)


@pytest.mark.parametrize(
    ("features", "closes", "message"),
    [
        (np.where(FEATURES == 3, np.nan, FEATURES), CLOSES, "non-finite value at row 3"),
        (FEATURES, np.array([10.0, 11.0, 0.0, 15.0, 9.0, 20.0]), "row 2"),
        (FEATURES, CLOSES[:5], "one value per feature row"),
        (FEATURES[:, 0], CLOSES, "2-D"),
    ],
)
def test_bad_series_is_refused(features: np.ndarray, closes: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_windows(features, closes, context=2, horizon=1)


def test_latest_window_is_the_last_context_rows() -> None:
    np.testing.assert_array_equal(latest_window(FEATURES, 4), FEATURES[2:])
    with pytest.raises(ValueError, match="need 7 days"):
        latest_window(FEATURES, 7)
