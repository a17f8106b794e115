"""terraform/eks checked by real tools that run without AWS: `tofu fmt`, tflint, checkov.

The tools come from scripts/build-iac-tools.sh (built from the Go module proxy / installed from PyPI
into a cache); scripts/test.sh exports their paths (STOCKOPS_TOFU, STOCKOPS_TFLINT, STOCKOPS_CHECKOV).
Without those variables the fixture runs the script itself, so a missing tool fails the tests instead
of skipping them. `tofu validate` is not run: it needs `tofu init`, which downloads the AWS and Helm
providers and the registry modules, and nothing but package registries is reachable here.
Each tool is also shown to fail on a known-bad file, so a green run means it really checked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TF_DIR = REPO_ROOT / "terraform" / "eks"
TFLINT_CONFIG = TF_DIR / ".tflint.hcl"
TOOLS = {"checkov": "STOCKOPS_CHECKOV", "tflint": "STOCKOPS_TFLINT", "tofu": "STOCKOPS_TOFU"}


@pytest.fixture(scope="module")
def tools() -> dict[str, Path]:
    paths = {name: os.environ.get(env, "") for name, env in TOOLS.items()}
    missing = [name for name, path in paths.items() if not path]
    if missing:
        result = subprocess.run(
            ["bash", str(REPO_ROOT / "scripts" / "build-iac-tools.sh"), *missing],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            pytest.fail(f"scripts/build-iac-tools.sh {' '.join(missing)} failed:\n{result.stderr[-3000:]}")
        for line in result.stdout.splitlines():
            key, _, value = line.partition("=")
            for name, env in TOOLS.items():
                if key == env:
                    paths[name] = value
    for name, path in paths.items():
        if not (path and os.access(path, os.X_OK)):
            pytest.fail(f"{name} is not executable at {path!r}: run scripts/build-iac-tools.sh")
    return {name: Path(path) for name, path in paths.items()}


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "BC_SKIP_MAPPING": "TRUE"}
    env.pop("TF_CLI_CONFIG_FILE", None)  # `tofu fmt` needs no CLI configuration; a missing one warns
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False, env=env, timeout=600
    )


def test_terraform_is_formatted_as_tofu_fmt_writes_it(tools: dict[str, Path]) -> None:
    result = _run(tools["tofu"], "fmt", "-check", "-recursive", "-diff", TF_DIR)
    assert result.returncode == 0, f"run `tofu fmt -recursive terraform/eks`:\n{result.stdout}{result.stderr}"


def test_tofu_fmt_rejects_misformatted_files(tools: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('variable "x" {\ntype=string\n    default = "a"\n}\n')
    assert _run(tools["tofu"], "fmt", "-check", tmp_path).returncode != 0


@pytest.mark.parametrize("folder", ["modules/stockops-eks", "examples/complete"])
def test_tflint_finds_nothing(tools: dict[str, Path], folder: str) -> None:
    result = _run(tools["tflint"], "--config", TFLINT_CONFIG, "--format", "compact", cwd=TF_DIR / folder)
    assert result.returncode == 0, result.stdout + result.stderr


def test_tflint_reports_an_undocumented_unused_variable(tools: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('terraform {\n  required_version = ">= 1.6"\n}\n')
    (tmp_path / "variables.tf").write_text('variable "unused" {}\n')
    (tmp_path / "outputs.tf").write_text("")
    result = _run(tools["tflint"], "--config", TFLINT_CONFIG, "--format", "compact", cwd=tmp_path)
    assert result.returncode != 0
    assert "terraform_unused_declarations" in result.stdout and "terraform_typed_variables" in result.stdout


def _checkov(tools: dict[str, Path], folder: Path, *extra: str) -> dict[str, object]:
    result = _run(
        tools["checkov"], "--directory", folder, "--framework", "terraform", "--output", "json",
        "--skip-download", "--download-external-modules", "false", *extra,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr[-3000:]
    report = json.loads(result.stdout)
    return dict(report[0] if isinstance(report, list) else report)


def test_checkov_passes_with_only_the_skips_justified_in_place(tools: dict[str, Path]) -> None:
    report = _checkov(tools, TF_DIR)
    results = report["results"]
    assert isinstance(results, dict)
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in results.get("failed_checks", [])]
    assert failed == []
    summary = report["summary"]
    assert isinstance(summary, dict) and summary["passed"] > 50, "checkov did not see the module"
    skipped = {c["check_id"] for c in results.get("skipped_checks", [])}
    in_source = {
        m for p in TF_DIR.rglob("*.tf") for m in re.findall(r"checkov:skip=([A-Z0-9_]+):", p.read_text())
    }
    assert skipped == in_source


def test_checkov_flags_an_unprotected_bucket(tools: dict[str, Path], tmp_path: Path) -> None:
    shutil.copy(TF_DIR / "modules" / "stockops-eks" / "versions.tf", tmp_path)
    (tmp_path / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket = "x"\n}\n')
    report = _checkov(tools, tmp_path, "--check", "CKV2_AWS_6,CKV_AWS_21")
    results = report["results"]
    assert isinstance(results, dict)
    assert {c["check_id"] for c in results["failed_checks"]} == {"CKV2_AWS_6", "CKV_AWS_21"}
