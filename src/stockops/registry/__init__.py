"""The MLflow model registry: naming, publishing with a promotion gate, and loading versions back.

`naming` has no MLflow import so light components (the operator) can share the names; everything else
here imports MLflow lazily through these re-exports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stockops.registry.naming import EXPERIMENT_NAME, PRODUCTION_ALIAS, registered_model_name
from stockops.registry.promotion import PromotionDecision, decide_promotion

if TYPE_CHECKING:
    from stockops.model.bundle import ModelBundle

__all__ = [
    "EXPERIMENT_NAME",
    "PRODUCTION_ALIAS",
    "PromotionDecision",
    "decide_promotion",
    "load_bundle",
    "registered_model_name",
]


def load_bundle(
    model_name: str,
    version: str | None = None,
    alias: str | None = None,
    tracking_uri: str | None = None,
    **kwargs: Any,
) -> tuple[ModelBundle, str]:
    """See `stockops.registry.loading.load_bundle` (imported on use: it pulls in MLflow and torch)."""
    from stockops.registry.loading import load_bundle as _load

    return _load(model_name, version, alias, tracking_uri, **kwargs)
