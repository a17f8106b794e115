"""The train commands hand their ensemble and L2-SP options to the pipeline unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from stockops.cli.app import app


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> list[Any]:
    import stockops.pipeline

    requests: list[Any] = []

    def fake_train(request: Any, settings: Any, progress: bool = False) -> Any:
        requests.append(request)
        raise SystemExit(0)  # stop before any training or output

    monkeypatch.setattr(stockops.pipeline, "train_and_register", fake_train)
    monkeypatch.setenv("STOCKOPS_HOME", str(tmp_path))
    return requests


def test_train_child_passes_members_and_l2_sp(captured: list[Any]) -> None:
    result = CliRunner().invoke(
        app, ["train-child", "AAPL", "--members", "3", "--l2-sp", "0.05", "--source", "synthetic"]
    )
    assert result.exit_code == 0, result.output
    (request,) = captured
    assert request.training.ensemble_members == 3
    assert request.transfer.l2_sp == 0.05 and request.transfer.strategy == "fine-tune"


def test_train_parent_passes_members_and_rejects_out_of_range(captured: list[Any]) -> None:
    assert CliRunner().invoke(app, ["train-parent", "--members", "2", "--source", "synthetic"]).exit_code == 0
    assert captured[0].training.ensemble_members == 2
    refused = CliRunner().invoke(app, ["train-parent", "--members", "17"])
    assert refused.exit_code != 0 and "--members" in refused.output


def test_the_cli_default_is_the_training_default() -> None:
    from stockops.cli.app import DEFAULT_MEMBERS
    from stockops.model.config import TrainingConfig

    assert TrainingConfig().ensemble_members == DEFAULT_MEMBERS
