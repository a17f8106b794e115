"""Feature definitions for the `feast` CLI.

The objects live in the package (`stockops.featurestore.definitions`) because the trainer and the
predictor apply them from an installed image where this directory does not exist; importing them here
makes `feast apply` register exactly the same entity and views. Nothing is redefined in this file.
"""

from stockops.featurestore.definitions import daily_features, feature_windows, ticker

__all__ = ["daily_features", "feature_windows", "ticker"]
