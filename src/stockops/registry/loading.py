"""Reading registered versions back: the bundle a predictor serves and the metrics a user inspects."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from stockops.registry.naming import PRODUCTION_ALIAS

if TYPE_CHECKING:  # torch comes with the bundle: `stockops evaluate` reads metrics and never needs it
    from stockops.model.bundle import ModelBundle


class ModelNotFoundError(LookupError):
    """No such registered model, version or alias; the message says which and what to do."""


def resolve_version(
    client: MlflowClient, model_name: str, version: str | None = None, alias: str | None = None
) -> Any:
    """The ModelVersion for an explicit version, else an alias (default `production`)."""
    try:
        if version is not None:
            return client.get_model_version(model_name, str(version))
        return client.get_model_version_by_alias(model_name, alias or PRODUCTION_ALIAS)
    except MlflowException as exc:
        which = f"version {version}" if version is not None else f"alias '{alias or PRODUCTION_ALIAS}'"
        raise ModelNotFoundError(
            f"model {model_name} has no {which} in the registry ({_short(exc)}); train it first "
            f"or name another version"
        ) from exc


def load_bundle(
    model_name: str,
    version: str | None = None,
    alias: str | None = None,
    tracking_uri: str | None = None,
    *,
    client: MlflowClient | None = None,
    dst: Path | None = None,
) -> tuple[ModelBundle, str]:
    """Download a registered version's `bundle/` artifacts and load them; returns (bundle, version)."""
    client = client or MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mv = resolve_version(client, model_name, version, alias)
    target = dst or Path(tempfile.mkdtemp(prefix=f"{model_name}-v{mv.version}-"))
    local = client.download_artifacts(mv.run_id, "bundle", str(target))
    from stockops.model.bundle import ModelBundle

    return ModelBundle.load(Path(local)), str(mv.version)


def load_metrics(
    model_name: str,
    version: str | None = None,
    alias: str | None = None,
    *,
    client: MlflowClient,
) -> dict[str, Any]:
    """The metrics JSON logged with a version (test split only; see stockops.model.evaluation)."""
    mv = resolve_version(client, model_name, version, alias)
    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(mv.run_id, "metrics.json", tmp)
        return json.loads(Path(path).read_text())


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
