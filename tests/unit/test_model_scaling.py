"""StandardScaler: per-feature statistics, JSON round trip, constant features safe."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stockops.model.scaling import StandardScaler


def test_scaler_standardises_each_feature_over_rows_and_windows() -> None:
    rng = np.random.default_rng(0)
    rows = rng.normal(loc=[5.0, -2.0], scale=[3.0, 0.5], size=(500, 2))
    scaler = StandardScaler.fit(rows)

    scaled = scaler.transform(rows, dtype=np.float64)
    np.testing.assert_allclose(scaled.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(scaled.std(axis=0), 1.0, atol=1e-12)
    windows = rows.reshape(50, 10, 2)
    np.testing.assert_allclose(scaler.transform(windows, dtype=np.float64), scaled.reshape(50, 10, 2))
    np.testing.assert_allclose(scaler.inverse_transform(scaled), rows)


def test_constant_feature_is_centred_not_divided_by_zero() -> None:
    data = np.column_stack([np.full(10, 7.0), np.arange(10.0)])
    scaler = StandardScaler.fit(data)

    out = scaler.transform(data)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[:, 0], 0.0)
    assert scaler.scale[0] == 1.0


def test_json_round_trip_is_exact() -> None:
    scaler = StandardScaler.fit(np.random.default_rng(1).normal(size=(30, 3)))
    again = StandardScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    assert again == scaler


def test_wrong_width_and_bad_dicts_are_refused() -> None:
    scaler = StandardScaler.fit(np.ones((4, 3)))
    with pytest.raises(ValueError, match="expects 3 values"):
        scaler.transform(np.ones((4, 2)))
    with pytest.raises(ValueError, match="'scale'"):
        StandardScaler.from_dict({"mean": [0.0], "scale": [0.0]})
    with pytest.raises(ValueError, match="mean"):
        StandardScaler.from_dict({"scale": [1.0]})
