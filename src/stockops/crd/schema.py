"""Turn a pydantic model's JSON schema into a structural OpenAPI v3 schema for a CRD.

The API server accepts only structural schemas: every node has a `type`, no `$ref`, no `anyOf` that
changes the type, no `null` type. Pydantic emits all of those (optional fields are
`anyOf: [X, {type: null}]`, nested models are `$ref`s). This module inlines references, unwraps the
optional unions, turns `const` into a one-value enum, drops titles and every default not marked with
`KEEP_DEFAULT`, and maps free-form objects to `x-kubernetes-preserve-unknown-fields`.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from stockops.crd.base import KEEP_DEFAULT

# Keys copied through unchanged; anything else pydantic emits is dropped (e.g. `title`).
_PASSTHROUGH = frozenset(
    {
        "type",
        "format",
        "description",
        "enum",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "required",
        "x-kubernetes-validations",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
    }
)


class SchemaConversionError(ValueError):
    """The model uses a construct that has no structural-schema equivalent."""


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The CRD schema of `model` (serialized by alias), structural and self-contained."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    return _convert(raw, defs, path=model.__name__)


def _resolve(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    """Inline a `$ref` (siblings such as a field's description win over the target's)."""
    if "$ref" not in node:
        return node
    name = node["$ref"].rsplit("/", 1)[-1]
    if name not in defs:
        raise SchemaConversionError(f"{path}: unresolved reference {node['$ref']}")
    target = copy.deepcopy(defs[name])
    siblings = {k: v for k, v in node.items() if k != "$ref"}
    return {**target, **siblings}


def _unwrap_optional(node: dict[str, Any], path: str) -> dict[str, Any]:
    """`anyOf: [X, {type: null}]` (pydantic's `X | None`) -> X with the outer keys kept."""
    for key in ("anyOf", "oneOf"):
        if key not in node:
            continue
        branches = [b for b in node[key] if b.get("type") != "null"]
        if len(branches) != 1:
            raise SchemaConversionError(f"{path}: unions of several types are not structural ({node[key]})")
        outer = {k: v for k, v in node.items() if k != key}
        return {**branches[0], **outer}
    if "allOf" in node:
        if len(node["allOf"]) != 1:
            raise SchemaConversionError(f"{path}: allOf with several parts is not supported")
        outer = {k: v for k, v in node.items() if k != "allOf"}
        return {**node["allOf"][0], **outer}
    return node


def _convert(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    node = _resolve(node, defs, path)
    node = _unwrap_optional(node, path)
    node = _resolve(node, defs, path)  # an optional model: anyOf [{$ref}, null]

    out: dict[str, Any] = {k: copy.deepcopy(v) for k, v in node.items() if k in _PASSTHROUGH}
    if "const" in node:
        out["enum"] = [node["const"]]
    # JSON Schema 2020 (pydantic) has numeric exclusive bounds; OpenAPI v3.0 (the CRD) has booleans.
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node[bound], bool):
            out[limit] = node[bound]
            out[bound] = True
    if node.get(KEEP_DEFAULT) and "default" in node:
        out["default"] = node["default"]

    kind = node.get("type")
    if kind is None:
        raise SchemaConversionError(f"{path}: no type (free-form values need an explicit model)")
    if kind == "object":
        properties = node.get("properties")
        additional = node.get("additionalProperties")
        if properties:
            out["properties"] = {
                name: _convert(child, defs, f"{path}.{name}") for name, child in properties.items()
            }
        elif isinstance(additional, dict) and additional:
            out["additionalProperties"] = _convert(additional, defs, f"{path}.*")
        else:
            out["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "array":
        out["items"] = _convert(node["items"], defs, f"{path}[]")
    return _ordered(out)


_KEY_ORDER = ("type", "description", "format", "default", "enum", "pattern")


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    """Readable key order in the YAML: type and description first, nested schemas last."""
    last = ("required", "properties", "items", "additionalProperties")
    head = [k for k in _KEY_ORDER if k in node]
    tail = [k for k in last if k in node]
    middle = sorted(k for k in node if k not in head and k not in tail)
    return {k: node[k] for k in (*head, *middle, *tail)}


def missing_descriptions(schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths of properties without a description (`kubectl explain` would show nothing for them)."""
    missing: list[str] = []
    for name, child in schema.get("properties", {}).items():
        child_path = f"{path}.{name}"
        if not child.get("description"):
            missing.append(child_path)
        missing.extend(missing_descriptions(child, child_path))
    if "items" in schema:
        missing.extend(missing_descriptions(schema["items"], f"{path}[]"))
    if isinstance(schema.get("additionalProperties"), dict):
        missing.extend(missing_descriptions(schema["additionalProperties"], f"{path}.*"))
    return missing


def structural_violations(schema: dict[str, Any], path: str = "") -> list[str]:
    """Nodes that break the structural rules the API server checks (for tests and the generator)."""
    problems: list[str] = []
    for forbidden in ("$ref", "anyOf", "oneOf", "allOf", "not", "nullable", "definitions", "$defs"):
        if forbidden in schema:
            problems.append(f"{path or '.'}: has {forbidden}")
    for bound in ("exclusiveMinimum", "exclusiveMaximum"):
        if bound in schema and not isinstance(schema[bound], bool):
            problems.append(f"{path or '.'}: {bound} must be a boolean in OpenAPI v3.0")
    if "type" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        problems.append(f"{path or '.'}: no type")
    for name, child in schema.get("properties", {}).items():
        problems.extend(structural_violations(child, f"{path}.{name}"))
    if "items" in schema:
        problems.extend(structural_violations(schema["items"], f"{path}[]"))
    if isinstance(schema.get("additionalProperties"), dict):
        problems.extend(structural_violations(schema["additionalProperties"], f"{path}.*"))
    return problems
