"""The MLflow pyfunc flavour of a StockOps model, so MLflow-native tools can load and call it.

Our own consumers (predictor, CLI) read the `bundle/` run artifacts directly; this wrapper exists so a
registered version also carries a standard, signed model that `mlflow.pyfunc.load_model` understands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np


class ForecastPyfunc(mlflow.pyfunc.PythonModel):
    """Input: raw feature windows (n, context_days, n_features); output: cumulative log returns (n, H)."""

    def load_context(self, context: Any) -> None:
        from stockops.model.bundle import ModelBundle

        self._bundle = ModelBundle.load(Path(context.artifacts["bundle"]))

    # No annotations on predict: MLflow would try to derive a schema from them; the signature logged
    # with the model (tensor in, tensor out) is the contract instead.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        windows = np.asarray(model_input, dtype=np.float32)
        return self._bundle.predict_log_returns(windows)
