"""Models-from-code entry for the pyfunc flavour: MLflow logs this file with each version and runs it on
load, so no Python object is pickled into the registry. Never imported by our own code."""

import mlflow.models

from stockops.registry.pyfunc import ForecastPyfunc

mlflow.models.set_model(ForecastPyfunc())
