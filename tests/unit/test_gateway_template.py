"""The ticker template: checked against the CRD at load, filled per ticker, mapped to a TrainRequest by
the trainer's own spec mapping."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from stockops.gateway.schemas import TrainingOptions
from stockops.gateway.template import (
    TemplateError,
    fill_child,
    fill_parent,
    load_template,
    template_parent,
    train_request,
)


def test_the_embedded_templates_load() -> None:
    child = load_template(None, "TickerModel")
    parent = load_template(None, "ParentModel")
    assert child["kind"] == "TickerModel" and parent["kind"] == "ParentModel"


def test_a_child_is_named_by_the_rule_and_points_at_its_parent() -> None:
    resource = fill_child(load_template(None, "TickerModel"), "BRK.B", "^GSPC", TrainingOptions(epochs=3))
    assert resource["metadata"]["name"] == "brk-b"
    spec = resource["spec"]
    assert spec["ticker"] == "BRK.B"
    assert spec["parentRef"]["name"] == "gspc" and spec["parentTicker"] == "^GSPC"
    assert spec["training"]["epochs"] == 3 and spec["transfer"]["epochs"] == 3


def test_a_local_child_trains_what_the_trainer_would(tmp_path: Path) -> None:
    path = tmp_path / "child.yaml"
    path.write_text(
        "spec:\n"
        "  data: {source: csv, csvPath: /data, start: '2021-01-01'}\n"
        "  transfer: {strategy: freeze}\n"
        "  training: {epochs: 2, numThreads: 1}\n"
        "  promotion: {minSkill: -0.5}\n"
    )
    template = load_template(path, "TickerModel")
    resource = fill_child(template, "AAPL", "^GSPC", TrainingOptions(strategy="fine-tune"))
    request = train_request("child", resource, default_source="auto", min_skill=0.0)
    assert request.ticker == "AAPL" and request.kind == "child"
    assert request.parent_ticker == "^GSPC"
    assert request.source == "csv:/data"
    assert request.start == date(2021, 1, 1)
    assert request.transfer is not None and request.transfer.strategy == "fine-tune"
    assert request.training.epochs == 2 and request.training.num_threads == 1
    assert request.min_skill == -0.5
    assert request.allow_synthetic  # locally, as with the CLI (labelled synthetic)


def test_a_parent_takes_the_default_source_and_the_options() -> None:
    resource = fill_parent(load_template(None, "ParentModel"), "^GSPC", TrainingOptions(epochs=4))
    request = train_request("parent", resource, default_source="csv:/x", min_skill=0.0)
    assert (request.ticker, request.source, request.training.epochs) == ("^GSPC", "csv:/x", 4)


def test_the_template_may_name_the_parent_ticker(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("kind: TickerModel\nspec:\n  parentTicker: spy\n")
    assert template_parent(load_template(path, "TickerModel")) == "SPY"
    assert template_parent(load_template(None, "TickerModel")) is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("spec:\n  transfer: {strategy: melt}\n", "spec.transfer.strategy"),
        ("spec:\n  training: {epochs: 0}\n", "spec.training.epochs"),
        ("kind: ParentModel\nspec: {}\n", "is a ParentModel"),
        ("- a\n- b\n", "mapping"),
        ("spec: [unclosed\n", "not YAML"),
    ],
)
def test_a_bad_template_fails_at_load_naming_the_field(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TemplateError, match=problem):
        load_template(path, "TickerModel")


def test_a_missing_template_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"missing\.yaml"):
        load_template(tmp_path / "missing.yaml", "TickerModel")
