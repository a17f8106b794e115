"""Price data for StockOps: sources (CSV, Yahoo, synthetic), validation, and the feature builder.

Importing this package does not import yfinance (an optional dependency, loaded on first download).
"""

from stockops.data.errors import DataError, DataUnavailableError, DataValidationError
from stockops.data.features import (
    EMA_SETTLE_ROWS,
    FEATURE_COLUMNS,
    FEATURE_DESCRIPTIONS,
    FEATURE_SET_VERSION,
    MODEL_FEATURES,
    FeatureDescription,
    compute_features,
)
from stockops.data.history import OHLCV_COLUMNS, PriceHistory
from stockops.data.sources import (
    AutoSource,
    CsvSource,
    CsvUrlSource,
    OhlcvSource,
    YFinanceSource,
    csv_file_name,
    source_from_string,
)
from stockops.data.synthetic import SyntheticSource, generate_ohlcv
from stockops.data.validation import normalize_ticker, require_min_rows, validate_ohlcv

__all__ = [
    "EMA_SETTLE_ROWS",
    "FEATURE_COLUMNS",
    "FEATURE_DESCRIPTIONS",
    "FEATURE_SET_VERSION",
    "MODEL_FEATURES",
    "OHLCV_COLUMNS",
    "AutoSource",
    "CsvSource",
    "CsvUrlSource",
    "DataError",
    "DataUnavailableError",
    "DataValidationError",
    "FeatureDescription",
    "OhlcvSource",
    "PriceHistory",
    "SyntheticSource",
    "YFinanceSource",
    "compute_features",
    "csv_file_name",
    "generate_ohlcv",
    "normalize_ticker",
    "require_min_rows",
    "source_from_string",
    "validate_ohlcv",
]
