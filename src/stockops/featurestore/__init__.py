"""The Feast feature store: the single path for features into training and serving.

- `store`: open a store directory (SQLite online store, or Redis when a URL is configured).
- `ingestion`: prices -> `compute_features` -> offline parquet -> online windows (`ingest`,
  `ingest_tickers`, `materialize`).
- `offline`: `training_frame`, the trainer's point-in-time frame; `stored_features` for as-of dates.
- `online`: `latest_window`, the predictor's input.

Importing this package does not import Feast (seconds); the modules that need it import it lazily.
"""
