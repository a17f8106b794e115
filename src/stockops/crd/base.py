"""Shared base for every CRD model: camelCase on the wire, snake_case in Python.

Every model is frozen (a parsed resource is a value, never mutated in place) and ignores unknown
fields, so an operator reading a resource written by a newer CRD version does not crash on it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

GROUP = "stockops.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# Marker read by `stockops.crd.schema`: keep this field's default in the CRD schema. Defaults are
# otherwise stripped, because every schema default is a field Argo CD sees as drift.
KEEP_DEFAULT = "x-stockops-keep-default"


class CrdModel(BaseModel):
    """Base of all spec/status models: aliases are the camelCase names used in the YAML."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The object as it appears in a Kubernetes resource: camelCase keys, unset fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def cel(
    rule: str, message: str, *, field_path: str | None = None, reason: str | None = None
) -> dict[str, str]:
    """One `x-kubernetes-validations` entry (a CEL rule the API server enforces on apply)."""
    entry = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    if reason:
        entry["reason"] = reason
    return entry
