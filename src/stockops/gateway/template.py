"""The resource a new ticker gets: a TickerModel template (YAML), filled with the ticker and its parent.

``STOCKOPS_GATEWAY_TICKER_TEMPLATE`` names a YAML file holding a TickerModel (a whole resource, or just
its ``spec``); unset, the embedded `DEFAULT_TICKER_TEMPLATE` is used. In a cluster the filled resource
is created as is; locally its spec becomes a `TrainRequest` through the trainer's own mapping
(`stockops.trainer.spec.request_from_spec`), so a template trains the same model in both places. The
parent a local child waits for is trained from ``STOCKOPS_GATEWAY_PARENT_TEMPLATE`` (a ParentModel, or
its spec; embedded default: the ParentModel defaults, what ``stockops train-parent`` trains).

Locally the parent's *ticker* comes from the request's ``parent``, else the template's
``spec.parentTicker`` (a local extension the trainer's mapping reads), else the gateway's
``parent_ticker`` (``^GSPC``); ``parentRef.name`` is set to that ticker's resource name. A template is
checked against the CRD models at start (a typo fails then, naming the field), with unknown keys kept:
local-only training knobs such as ``training.numThreads`` reach the trainer's mapping.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from stockops.gateway.names import resource_name
from stockops.gateway.schemas import TrainingOptions

DEFAULT_TICKER_TEMPLATE = """\
# What a ticker the gateway has never seen gets: a TickerModel transferred from the parent.
apiVersion: stockops.io/v1alpha1
kind: TickerModel
metadata:
  labels:
    stockops.io/created-by: gateway
spec:
  ticker: FILLED-IN
  parentRef:
    name: gspc
  transfer:
    strategy: fine-tune
  serving:
    replicas: 1
    cacheTtlSeconds: 300
"""

DEFAULT_PARENT_TEMPLATE = """\
# The parent a new child waits for when none is in production (the ParentModel defaults).
apiVersion: stockops.io/v1alpha1
kind: ParentModel
metadata:
  labels:
    stockops.io/created-by: gateway
spec:
  ticker: FILLED-IN
"""

Kind = Literal["TickerModel", "ParentModel"]


class TemplateError(ValueError):
    """A template that is not a valid resource; the message names the file and the field."""


def load_template(path: Path | None, kind: Kind) -> dict[str, Any]:
    """The template as a whole resource dict (apiVersion, kind, metadata, spec), checked."""
    source = str(path) if path is not None else f"embedded {kind} template"
    if path is None:
        text = DEFAULT_TICKER_TEMPLATE if kind == "TickerModel" else DEFAULT_PARENT_TEMPLATE
    else:
        try:
            text = path.expanduser().read_text()
        except OSError as exc:
            raise TemplateError(f"{kind} template {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TemplateError(f"{source} is not YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"{source} must be a {kind} resource or its spec (a mapping)")
    if "spec" not in data:
        data = {"spec": data}
    if data.get("kind", kind) != kind:
        raise TemplateError(f"{source} is a {data.get('kind')}, not a {kind}")
    resource = {
        "apiVersion": data.get("apiVersion", "stockops.io/v1alpha1"),
        "kind": kind,
        "metadata": dict(data.get("metadata") or {}),
        "spec": dict(data.get("spec") or {}),
    }
    _check(resource, kind, source)
    return resource


def _check(resource: dict[str, Any], kind: Kind, source: str) -> None:
    sample = (
        fill_child(resource, "AAPL", "^GSPC") if kind == "TickerModel" else fill_parent(resource, "^GSPC")
    )
    try:
        if kind == "TickerModel":
            from stockops.crd.ticker_model import TickerModelSpec

            TickerModelSpec.model_validate(sample["spec"])
        else:
            from stockops.crd.parent_model import ParentModelSpec

            ParentModelSpec.model_validate(sample["spec"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TemplateError(f"{source}: spec.{where}: {first['msg']}") from None


def fill_child(
    template: dict[str, Any], ticker: str, parent: str, options: TrainingOptions | None = None
) -> dict[str, Any]:
    """The TickerModel for ``ticker`` transferred from ``parent``, with the caller's options applied."""
    resource = copy.deepcopy(template)
    name = resource_name(ticker)
    resource["metadata"] = {**resource["metadata"], "name": name}
    spec = resource["spec"]
    spec["ticker"] = ticker
    spec["parentRef"] = {**(spec.get("parentRef") or {}), "name": resource_name(parent)}
    spec["parentTicker"] = parent
    if options is not None:
        if options.strategy:
            spec["transfer"] = {**(spec.get("transfer") or {}), "strategy": options.strategy}
        if options.epochs:
            spec["training"] = {**(spec.get("training") or {}), "epochs": options.epochs}
            spec["transfer"] = {**(spec.get("transfer") or {}), "epochs": options.epochs}
    return resource


def fill_parent(
    template: dict[str, Any], ticker: str, options: TrainingOptions | None = None
) -> dict[str, Any]:
    resource = copy.deepcopy(template)
    resource["metadata"] = {**resource["metadata"], "name": resource_name(ticker)}
    spec = resource["spec"]
    spec["ticker"] = ticker
    if options is not None and options.epochs:
        spec["training"] = {**(spec.get("training") or {}), "epochs": options.epochs}
    return resource


def template_parent(template: dict[str, Any]) -> str | None:
    """The parent ticker a TickerModel template names (``spec.parentTicker``), if any."""
    value = (template.get("spec") or {}).get("parentTicker")
    return str(value).upper() if value else None


def data_source(spec: dict[str, Any], default: str) -> str:
    """The source spec string of a resource: ``csv`` + ``csvPath`` is ``csv:DIR`` (as the operator
    resolves it); unset: ``default`` (``STOCKOPS_DATA_SOURCE``)."""
    data = spec.get("data") or {}
    source = data.get("source")
    if not source:
        return default
    if source == "csv":
        return f"csv:{data.get('csvPath')}"
    return str(source)


def train_request(
    kind: Literal["parent", "child"], resource: dict[str, Any], *, default_source: str, min_skill: float
) -> Any:
    """The `TrainRequest` a filled resource trains locally: the trainer's spec mapping, with the data
    source resolved like the operator's. Locally a synthetic model may be promoted (labelled), as with
    the CLI; in a cluster only when the resource opts in."""
    from stockops.trainer.spec import request_from_spec

    spec = dict(resource["spec"])
    source = data_source(spec, default_source)
    spec["data"] = {k: v for k, v in (spec.get("data") or {}).items() if k not in ("source", "csvPath")}
    request = request_from_spec(kind, spec, default_source=source, default_min_skill=min_skill)
    allow = (spec.get("promotion") or {}).get("allowSynthetic")
    return request.model_copy(update={"allow_synthetic": True if allow is None else bool(allow)})
