"""The CRD YAML in crds/ is generated from the typed models and is a valid structural schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from stockops.crd.analysis import AnalysisSpec
from stockops.crd.definitions import ALL_RESOURCES, crd_manifest
from stockops.crd.generate import rendered_files
from stockops.crd.parent_model import ParentModelSpec
from stockops.crd.schema import missing_descriptions, structural_schema, structural_violations
from stockops.crd.ticker_model import TickerModelSpec


def _schema(kind: str) -> dict:
    resource = next(r for r in ALL_RESOURCES if r.kind == kind)
    return crd_manifest(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_committed_crds_match_the_models(repo_root: Path) -> None:
    for name, text in rendered_files().items():
        path = repo_root / "crds" / name
        assert path.is_file(), f"{path} missing: run `python -m stockops.crd.generate`"
        assert path.read_text() == text, f"{path} is stale: run `python -m stockops.crd.generate`"


def test_generator_check_mode_reports_drift(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "stockops.crd.generate", "--out", str(tmp_path)]
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0
    stale = tmp_path / "stockops.io_tickermodels.yaml"
    stale.write_text(stale.read_text().replace("shortNames", "shortNamez"))
    checked = subprocess.run([*command, "--check"], capture_output=True, text=True, check=False)
    assert checked.returncode == 1
    assert "stockops.io_tickermodels.yaml" in checked.stderr


@pytest.mark.parametrize("kind", ["ParentModel", "TickerModel", "Analysis"])
def test_schema_is_structural_and_described(kind: str) -> None:
    schema = _schema(kind)
    assert structural_violations(schema) == []
    assert [p for p in missing_descriptions(schema) if not p.startswith(".metadata")] == []
    text = yaml.safe_dump(schema)
    assert "$ref" not in text and "anyOf" not in text and "title" not in text


def test_names_columns_and_status_subresource() -> None:
    by_kind = {r.kind: crd_manifest(r) for r in ALL_RESOURCES}
    short = {k: m["spec"]["names"]["shortNames"] for k, m in by_kind.items()}
    assert short == {"ParentModel": ["pm"], "TickerModel": ["tkm"], "Analysis": ["an"]}
    for manifest in by_kind.values():
        assert manifest["spec"]["group"] == "stockops.io"
        assert manifest["spec"]["scope"] == "Namespaced"
        assert manifest["spec"]["names"]["categories"] == ["stockops"]
        version = manifest["spec"]["versions"][0]
        assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    columns = by_kind["TickerModel"]["spec"]["versions"][0]["additionalPrinterColumns"]
    names = [c["name"] for c in columns if not c.get("priority")]
    assert names == ["Ticker", "Parent", "Phase", "Progress", "Skill", "Ready", "Age"]
    url = next(c for c in columns if c["name"] == "URL")
    assert url["priority"] == 1 and url["jsonPath"] == ".status.inference.url"
    columns = by_kind["Analysis"]["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in columns if not c.get("priority")] == [
        "Ticker",
        "Stance",
        "Confidence",
        "Phase",
        "Age",
    ]
    assert [c["jsonPath"] for c in columns[:3]] == [".status.ticker", ".status.stance", ".status.confidence"]


def test_validation_rules_are_in_the_schema() -> None:
    spec = _schema("TickerModel")["properties"]["spec"]
    assert spec["required"] == ["ticker", "parentRef"]
    assert spec["properties"]["ticker"]["pattern"] == r"^\^?[A-Z0-9][A-Z0-9.\-]{0,14}$"
    assert spec["properties"]["transfer"]["properties"]["strategy"]["enum"] == ["freeze", "fine-tune"]
    epochs = spec["properties"]["training"]["properties"]["epochs"]
    assert (epochs["minimum"], epochs["maximum"]) == (1, 1000)
    parent_spec = _schema("ParentModel")["properties"]["spec"]
    rules = parent_spec["properties"]["model"]["x-kubernetes-validations"]
    assert any("horizonDays" in r["rule"] and "contextDays" in r["rule"] for r in rules)
    assert parent_spec["properties"]["ticker"]["default"] == "^GSPC"


def test_schema_keeps_defaults_few() -> None:
    defaults: list[str] = []

    def walk(node: dict, path: str) -> None:
        if "default" in node:
            defaults.append(path)
        for name, child in node.get("properties", {}).items():
            walk(child, f"{path}.{name}")
        if "items" in node:
            walk(node["items"], f"{path}[]")

    for kind in ("ParentModel", "TickerModel", "Analysis"):
        walk(_schema(kind), kind)
    assert defaults == ["ParentModel.spec.ticker"]


def test_status_conditions_are_a_map_keyed_by_type() -> None:
    conditions = _schema("TickerModel")["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    per_horizon = _schema("TickerModel")["properties"]["status"]["properties"]["metrics"]["properties"][
        "perHorizon"
    ]
    assert per_horizon["items"]["properties"]["skill"]["type"] == "number"


def test_models_parse_the_examples(repo_root: Path) -> None:
    documents = []
    for path in sorted((repo_root / "examples").glob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    kinds = {d["kind"] for d in documents}
    assert {"ParentModel", "TickerModel", "Analysis"} <= kinds
    for document in documents:
        if document["kind"] == "ParentModel":
            ParentModelSpec.model_validate(document["spec"])
        elif document["kind"] == "TickerModel":
            TickerModelSpec.model_validate(document["spec"])
        elif document["kind"] == "Analysis":
            AnalysisSpec.model_validate(document["spec"])


def test_models_reject_what_the_schema_rejects() -> None:
    with pytest.raises(ValidationError, match="ticker"):
        TickerModelSpec.model_validate({"ticker": "aapl", "parentRef": {"name": "gspc"}})
    with pytest.raises(ValidationError, match="parentRef"):
        TickerModelSpec.model_validate({"ticker": "AAPL"})
    with pytest.raises(ValidationError, match="dropout"):
        ParentModelSpec.model_validate({"model": {"dropout": 0.95}})


def test_optional_fields_unwrap_to_their_type() -> None:
    schema = structural_schema(TickerModelSpec)
    serving = schema["properties"]["serving"]
    assert serving["type"] == "object"
    assert serving["properties"]["replicas"] == {
        "type": "integer",
        "description": "Predictor replicas (unset: 1).",
        "maximum": 20,
        "minimum": 1,
    }


@pytest.mark.parametrize("kind", ["ParentModel", "TickerModel"])
def test_walk_forward_folds_are_bounded_two_to_ten_in_the_schema(kind: str) -> None:
    evaluation = _schema(kind)["properties"]["spec"]["properties"]["evaluation"]
    folds = evaluation["properties"]["walkForwardFolds"]
    assert folds["type"] == "integer" and (folds["minimum"], folds["maximum"]) == (2, 10)
    assert "default" not in folds  # unset means no backtest (and no Argo CD drift)
    backtest = _schema(kind)["properties"]["status"]["properties"]["backtest"]["properties"]
    assert {"folds", "medianSkill", "positiveFraction", "skillLow", "skillHigh", "sharpe"} <= set(backtest)
    assert backtest["buyHoldSharpe"]["type"] == "number"


@pytest.mark.parametrize("folds", [1, 11])
def test_models_reject_fold_counts_outside_two_to_ten(folds: int) -> None:
    with pytest.raises(ValidationError, match="walkForwardFolds"):
        TickerModelSpec.model_validate({**_CHILD, "evaluation": {"walkForwardFolds": folds}})
    with pytest.raises(ValidationError, match="walkForwardFolds"):
        ParentModelSpec.model_validate({"evaluation": {"walkForwardFolds": folds}})


def test_models_accept_the_fold_range_and_pass_it_to_the_trainer() -> None:
    for folds in (2, 10):
        spec = TickerModelSpec.model_validate({**_CHILD, "evaluation": {"walkForwardFolds": folds}})
        assert spec.to_wire()["evaluation"] == {"walkForwardFolds": folds}


_CHILD = {"ticker": "AAPL", "parentRef": {"name": "gspc"}}


@pytest.mark.parametrize(
    ("block", "field", "bad"),
    [("training", "ensembleMembers", 0), ("training", "ensembleMembers", 17), ("transfer", "l2SP", -0.1)],
)
def test_ensemble_and_l2_sp_are_bounded_in_the_schema_and_the_models(
    block: str, field: str, bad: float
) -> None:
    prop = _schema("TickerModel")["properties"]["spec"]["properties"][block]["properties"][field]
    assert "default" not in prop and prop["type"] in ("integer", "number")
    with pytest.raises(ValidationError, match=field):
        TickerModelSpec.model_validate({**_CHILD, block: {field: bad}})
    if block == "training":
        assert (
            "ensembleMembers"
            in _schema("ParentModel")["properties"]["spec"]["properties"]["training"]["properties"]
        )


@pytest.mark.parametrize("kind", ["ParentModel", "TickerModel"])
def test_both_kinds_have_the_promotion_gate_with_allow_synthetic(kind: str) -> None:
    promotion = _schema(kind)["properties"]["spec"]["properties"]["promotion"]["properties"]
    assert promotion["allowSynthetic"]["type"] == "boolean" and "default" not in promotion["allowSynthetic"]
    assert promotion["minSkill"]["type"] == "number"
