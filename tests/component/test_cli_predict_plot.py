"""The charts of a tiny registered model: the training run's three PNGs (MLflow and the output folder)
and `stockops predict --plot`, the fan chart of the forecast just printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stockops.cli.app import app

pytestmark = pytest.mark.component

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained(register_small_model: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    home = tmp_path_factory.mktemp("home")
    return home, register_small_model("AAPL", home=home)


@pytest.fixture(scope="module")
def home(trained: tuple[Path, Any]) -> Path:
    return trained[0]


def test_training_logs_returns_rolling_skill_and_fan_chart(trained: tuple[Path, Any]) -> None:
    from mlflow.tracking import MlflowClient

    from stockops.config import Settings
    from stockops.pipeline import PLOT_FILES

    home, summary = trained
    assert set(summary.plot_paths) == {"returns", "rolling_skill", "forecast"}
    for name, path in summary.plot_paths.items():
        assert Path(path) == home / "outputs" / PLOT_FILES[name]
        data = Path(path).read_bytes()
        assert data[:8] == PNG_SIGNATURE and len(data) > 20_000
    assert not (home / "outputs" / "prediction_vs_actual.png").exists()  # the old price chart is gone
    uri = Settings(home=home).tracking_uri
    logged = MlflowClient(tracking_uri=uri).list_artifacts(summary.run_id, "plots")
    assert {Path(a.path).name for a in logged} == set(PLOT_FILES.values())


def _env(home: Path) -> dict[str, str | None]:
    return {"STOCKOPS_HOME": str(home), "MLFLOW_TRACKING_URI": None, "STOCKOPS_MLFLOW_TRACKING_URI": None}


def test_plot_writes_the_fan_chart_under_outputs_and_names_it_in_the_json(home: Path) -> None:
    result = CliRunner().invoke(app, ["predict", "AAPL", "--days", "3", "--plot", "--json"], env=_env(home))
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    path = Path(payload["plot_path"])
    assert path == home / "outputs" / "predict" / f"AAPL-{payload['as_of']}.png"
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 20_000


def test_plot_path_chooses_the_file_and_the_table_output_prints_it(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "charts" / "aapl.png"
    result = CliRunner().invoke(app, ["predict", "AAPL", "--plot-path", str(target)], env=_env(home))
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == PNG_SIGNATURE
    assert f"fan chart: {target}" in " ".join(result.stdout.split())


def test_predict_without_plot_does_not_import_matplotlib(home: Path) -> None:
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from stockops.cli.app import app\n"
        "result = CliRunner().invoke(app, ['predict', 'AAPL', '--json'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'plot_path' not in result.stdout\n"
        "print('matplotlib' in sys.modules)\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MLFLOW_TRACKING_URI", "STOCKOPS_MLFLOW_TRACKING_URI")
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "STOCKOPS_HOME": str(home)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
