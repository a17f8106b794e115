"""The Feast objects: entity `ticker`, the daily feature view and the window view.

Defined once here and imported by `feature_repo/` (for the `feast` CLI) and by `store.open_store`, so
the repository a user applies by hand and the one the code applies cannot drift. Source paths are
relative; Feast resolves them against the store directory (`repo_path`).

Why a window view at all: the predictor needs the last `context_days` rows for a ticker in one online
read. Feast's online store keeps only the latest value of each feature per entity, so a daily view
materialized online would hold one day. The window view stores the days as one flattened array
(row-major, with its column names and dates), which stays a single key lookup on SQLite and Redis.
"""

from __future__ import annotations

from datetime import timedelta

from stockops.featurestore.feast_import import import_feast
from stockops.featurestore.layout import DAILY_DIR, WINDOWS_DIR
from stockops.featurestore.tables import (
    CREATED,
    DAILY_FEATURES,
    DATA_SOURCE,
    ENTITY,
    EVENT_TIMESTAMP,
    FEATURE_SET_VERSION_COLUMN,
    LAST_CLOSE,
    SYNTHETIC,
    WINDOW_COLUMNS,
    WINDOW_DATES,
    WINDOW_VALUES,
)

import_feast()  # before any `from feast import`: see feast_import

from feast import Entity, FeatureView, Field, FileSource, ValueType  # noqa: E402
from feast.types import Array, Bool, Float64, String  # noqa: E402

PROJECT = "stockops"
DAILY_VIEW = "daily_features"
WINDOW_VIEW = "feature_windows"

# A point-in-time lookup finds the newest daily row at or before the entity timestamp within this
# span. Entity rows are trading days, so an exact match is the rule; the TTL only bounds how far a
# stale row could be carried over a gap (long weekends + holidays fit in 5 days).
DAILY_TTL = timedelta(days=5)

ticker = Entity(
    name=ENTITY,
    join_keys=[ENTITY],
    value_type=ValueType.STRING,
    description="Yahoo-style symbol, normalized (upper case, ^ for indices).",
)

daily_source = FileSource(
    name="daily_features_parquet",
    path=DAILY_DIR,
    timestamp_field=EVENT_TIMESTAMP,
    created_timestamp_column=CREATED,
    description="One parquet file per ticker, replaced whole by each ingestion.",
)

window_source = FileSource(
    name="feature_windows_parquet",
    path=WINDOWS_DIR,
    timestamp_field=EVENT_TIMESTAMP,
    created_timestamp_column=CREATED,
    description="One row per ticker: the latest window of model features.",
)

daily_features = FeatureView(
    name=DAILY_VIEW,
    entities=[ticker],
    ttl=DAILY_TTL,
    schema=[
        *(Field(name=name, dtype=Float64) for name in DAILY_FEATURES),
        Field(name=FEATURE_SET_VERSION_COLUMN, dtype=String),
    ],
    source=daily_source,
    online=False,
    description="close + MODEL_FEATURES per trading day; training sets come from here point in time.",
)

feature_windows = FeatureView(
    name=WINDOW_VIEW,
    entities=[ticker],
    ttl=timedelta(0),
    schema=[
        Field(name=WINDOW_VALUES, dtype=Array(Float64)),
        Field(name=WINDOW_COLUMNS, dtype=Array(String)),
        Field(name=WINDOW_DATES, dtype=Array(String)),
        Field(name=LAST_CLOSE, dtype=Float64),
        Field(name=FEATURE_SET_VERSION_COLUMN, dtype=String),
        Field(name=DATA_SOURCE, dtype=String),
        Field(name=SYNTHETIC, dtype=Bool),
    ],
    source=window_source,
    online=True,
    description="The last window_days rows of MODEL_FEATURES per ticker, flattened; the predictor's input.",
)

FEAST_OBJECTS = (ticker, daily_features, feature_windows)
