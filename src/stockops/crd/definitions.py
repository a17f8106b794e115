"""The three CustomResourceDefinitions, built from the typed models (pure: data in, manifest out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from stockops.crd.analysis import AnalysisSpec, AnalysisStatus
from stockops.crd.base import GROUP, VERSION
from stockops.crd.parent_model import ParentModelSpec
from stockops.crd.schema import structural_schema
from stockops.crd.status_blocks import ModelStatus, TickerModelStatus
from stockops.crd.ticker_model import TickerModelSpec

CATEGORY = "stockops"


@dataclass(frozen=True)
class ResourceDefinition:
    """What a CRD needs beyond the schema: names, description, printer columns."""

    kind: str
    plural: str
    singular: str
    short_name: str
    description: str
    spec_model: type[BaseModel]
    status_model: type[BaseModel]
    printer_columns: tuple[dict[str, Any], ...]

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


def _column(name: str, json_path: str, type_: str, description: str, priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": type_, "jsonPath": json_path, "description": description}
    if priority:
        column["priority"] = priority
    return column


_TICKER = _column("Ticker", ".spec.ticker", "string", "Symbol the model forecasts.")
_PHASE = _column("Phase", ".status.phase", "string", "Summary state.")
_PROGRESS = _column(
    "Progress", ".status.training.progressPercent", "integer", "Training progress in percent (from MLflow)."
)
_SKILL = _column(
    "Skill", ".status.metrics.skill", "number", "Test skill vs the random walk (above 0 is better)."
)
_READY = _column(
    "Ready", '.status.conditions[?(@.type=="Ready")].status', "string", "Ready condition status."
)
_AGE = _column("Age", ".metadata.creationTimestamp", "date", "Time since creation.")
_VERSION = _column("Version", ".status.mlflow.modelVersion", "string", "Latest trained model version.", 1)

PARENT_MODEL = ResourceDefinition(
    kind="ParentModel",
    plural="parentmodels",
    singular="parentmodel",
    short_name="pm",
    description=(
        "A parent forecasting model (default on ^GSPC) trained by a Job; TickerModels transfer its "
        "weights. The operator writes training progress, test metrics and the MLflow version to status."
    ),
    spec_model=ParentModelSpec,
    status_model=ModelStatus,
    printer_columns=(_TICKER, _PHASE, _PROGRESS, _SKILL, _READY, _AGE, _VERSION),
)

TICKER_MODEL = ResourceDefinition(
    kind="TickerModel",
    plural="tickermodels",
    singular="tickermodel",
    short_name="tkm",
    description=(
        "One stock's forecasting model: trained from its ParentModel's weights once the parent is "
        "Ready, promoted past a skill gate, then served by a KServe InferenceService."
    ),
    spec_model=TickerModelSpec,
    status_model=TickerModelStatus,
    printer_columns=(
        _TICKER,
        _column("Parent", ".spec.parentRef.name", "string", "ParentModel it transfers from."),
        _PHASE,
        _PROGRESS,
        _SKILL,
        _READY,
        _AGE,
        _column("URL", ".status.inference.url", "string", "Prediction endpoint.", 1),
        _column(
            "Drifted",
            '.status.conditions[?(@.type=="Drifted")].status',
            "string",
            "Whether the latest monitoring check found the served version's inputs drifted.",
            1,
        ),
        _VERSION,
    ),
)

ANALYSIS = ResourceDefinition(
    kind="Analysis",
    plural="analyses",
    singular="analysis",
    short_name="an",
    description=(
        "A question about a TickerModel's forecast, answered by the StockOps agent in a Job once the "
        "TickerModel is Ready: stance, confidence and summary in status, the full report in a ConfigMap "
        "and in MLflow."
    ),
    spec_model=AnalysisSpec,
    status_model=AnalysisStatus,
    printer_columns=(
        _column("Ticker", ".status.ticker", "string", "Symbol analysed (from the TickerModel)."),
        _column("Stance", ".status.stance", "string", "BULLISH, BEARISH or NEUTRAL."),
        _column("Confidence", ".status.confidence", "string", "LOW, MEDIUM or HIGH."),
        _PHASE,
        _AGE,
        _column("TickerModel", ".spec.tickerModelRef.name", "string", "TickerModel analysed.", 1),
        _column("Version", ".status.modelVersion", "string", "Model version the forecast came from.", 1),
        _column(
            "Generator", ".status.generator", "string", "What wrote the prose (llm:<model> or template).", 1
        ),
    ),
)


ALL_RESOURCES: tuple[ResourceDefinition, ...] = (PARENT_MODEL, TICKER_MODEL, ANALYSIS)


def openapi_schema(resource: ResourceDefinition) -> dict[str, Any]:
    """The version's openAPIV3Schema: apiVersion/kind/metadata plus the structural spec and status."""
    spec = structural_schema(resource.spec_model)
    status = structural_schema(resource.status_model)
    return {
        "type": "object",
        "description": resource.description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": "Versioned schema of this object: stockops.io/v1alpha1.",
            },
            "kind": {"type": "string", "description": f"REST resource kind: {resource.kind}."},
            # The API server owns metadata's schema: a CRD may not describe it (not even a description).
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


def crd_manifest(resource: ResourceDefinition) -> dict[str, Any]:
    """The apiextensions.k8s.io/v1 CustomResourceDefinition for `resource`."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": resource.crd_name,
            "labels": {"app.kubernetes.io/part-of": "stockops"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                "plural": resource.plural,
                "singular": resource.singular,
                "shortNames": [resource.short_name],
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(c) for c in resource.printer_columns],
                    "schema": {"openAPIV3Schema": openapi_schema(resource)},
                }
            ],
        },
    }
