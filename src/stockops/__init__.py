"""StockOps: Kubernetes-native MLOps for stock forecasting.

One package holds the shared ML core (data, features, model, evaluation, registry) that the trainer,
the predictor, the operator and the CLI all use, so no part of the pipeline is ever copied.
"""

__version__ = "0.1.0"
