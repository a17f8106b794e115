"""Registry answers for one-shot CLI commands, cached until the embedded SQLite store changes.

See `stockops.stamped_cache` for why this is safe: against the embedded store every registration or
alias move rewrites ``mlflow.db``, so a cached (bundle, version) or metrics JSON is reused only while
the file is unchanged. With ``MLFLOW_TRACKING_URI`` set the server is always asked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stockops.config import Settings
from stockops.registry.naming import PRODUCTION_ALIAS
from stockops.stamped_cache import ANSWER, StampedCache, file_stamp

if TYPE_CHECKING:
    from stockops.model.bundle import ModelBundle

LOCAL_DB = "mlflow.db"


def registry_cache(settings: Settings) -> StampedCache:
    root = settings.cache_dir / "registry"
    if settings.mlflow_tracking_uri:  # a server: its changes are invisible from here
        return StampedCache(root=root, stamp=None)
    return StampedCache(root=root, stamp=file_stamp(settings.home_dir / LOCAL_DB))


def lookup_key(kind: str, model_name: str, version: str | None, alias: str | None) -> str:
    """``bundle/stockops-aapl/v3`` or ``metrics/stockops-aapl/alias-production`` (pure)."""
    which = f"v{version}" if version is not None else f"alias-{alias or PRODUCTION_ALIAS}"
    return f"{kind}/{model_name}/{which}"


def cached_bundle(
    settings: Settings, model_name: str, version: str | None = None, alias: str | None = None
) -> tuple[ModelBundle, str]:
    """(bundle, version) of a registered model; MLflow is imported only when the cache misses."""
    from stockops.model.bundle import ModelBundle

    cache = registry_cache(settings)
    key = lookup_key("bundle", model_name, version, alias)

    def fill(tmp: Path) -> None:
        _, resolved = _load_bundle(settings, model_name, version, alias, dst=tmp)  # -> tmp/bundle
        (tmp / ANSWER).write_text(json.dumps({"version": resolved}))

    entry = cache.fetch(key, fill)
    if entry is None:  # a tracking server: no cache
        return _load_bundle(settings, model_name, version, alias, dst=None)
    answer = json.loads((entry / ANSWER).read_text())
    return ModelBundle.load(entry / "bundle"), str(answer["version"])


def cached_metrics(
    settings: Settings, model_name: str, version: str | None = None, alias: str | None = None
) -> dict[str, Any]:
    """The metrics JSON logged with a registered version; MLflow only when the cache misses."""
    cache = registry_cache(settings)
    key = lookup_key("metrics", model_name, version, alias)

    def fill(tmp: Path) -> None:
        (tmp / ANSWER).write_text(json.dumps(_fetch_metrics(settings, model_name, version, alias)))

    entry = cache.fetch(key, fill)
    if entry is None:
        return _fetch_metrics(settings, model_name, version, alias)
    return dict(json.loads((entry / ANSWER).read_text()))


def _client(settings: Settings) -> Any:
    from stockops.registry.tracking import TrackingTarget, connect

    return connect(TrackingTarget.from_settings(settings))


def _load_bundle(
    settings: Settings, model_name: str, version: str | None, alias: str | None, *, dst: Path | None
) -> tuple[ModelBundle, str]:
    from stockops.registry.loading import load_bundle

    return load_bundle(model_name, version, alias, client=_client(settings), dst=dst)


def _fetch_metrics(
    settings: Settings, model_name: str, version: str | None, alias: str | None
) -> dict[str, Any]:
    from stockops.registry.loading import load_metrics

    return load_metrics(model_name, version, alias, client=_client(settings))
