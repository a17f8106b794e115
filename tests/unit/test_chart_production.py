"""The chart with the production values terraform/eks passes: MLflow's artifacts on S3, its own identity.

Rendered by the pinned helm. The values are the ones the Terraform module gives the chart (read from
the HCL), so a key renamed on one side fails here rather than at `tofu apply`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from stockops.devcluster import DevClusterError, build_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "stockops"
ADDONS = REPO_ROOT / "terraform" / "eks" / "modules" / "stockops-eks" / "addons.tf"


@pytest.fixture(scope="module")
def helm() -> Path:
    try:
        return build_tool(REPO_ROOT, "helm")
    except DevClusterError as exc:
        pytest.fail(f"no helm to render the chart with: {exc}")


def _template(helm: Path, values: dict[str, Any], tmp: Path) -> subprocess.CompletedProcess[str]:
    path = tmp / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    env = {**os.environ, "HELM_CACHE_HOME": str(tmp / "c"), "HELM_CONFIG_HOME": str(tmp / "f")}
    env.pop("KUBECONFIG", None)
    return subprocess.run(
        [str(helm), "template", "stockops", str(CHART), "-n", "stockops-system", "-f", str(path)],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip


def _terraform_mlflow_keys() -> set[str]:
    with ADDONS.open() as handle:
        tf_locals = hcl2.load(handle)["locals"][0]
    return {k.strip('"') for k in tf_locals["stockops_values"]["mlflow"] if not k.startswith("__")}


def test_terraform_sets_only_mlflow_keys_the_chart_knows() -> None:
    chart_mlflow = yaml.safe_load((CHART / "values.yaml").read_text())["mlflow"]
    assert _terraform_mlflow_keys() == {"artifactsDestination", "serviceAccount"}
    assert _terraform_mlflow_keys() <= set(chart_mlflow)


def test_mlflow_stores_artifacts_in_the_bucket_as_its_own_service_account(helm: Path, tmp_path: Path) -> None:
    values = {
        "mlflow": {
            "artifactsDestination": "s3://stockops-mlflow-x/mlflow-artifacts",
            "serviceAccount": {"create": True, "name": "stockops-mlflow"},
        }
    }
    result = _template(helm, values, tmp_path)
    assert result.returncode == 0, result.stderr
    objects = [d for d in yaml.safe_load_all(result.stdout) if d]
    accounts = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ServiceAccount"}
    assert accounts["stockops-mlflow"]["automountServiceAccountToken"] is False
    (deployment,) = [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "stockops-mlflow"
    ]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "stockops-mlflow"
    assert (
        "--artifacts-destination=s3://stockops-mlflow-x/mlflow-artifacts" in pod["containers"][0]["command"]
    )
    assert "--serve-artifacts" in pod["containers"][0]["command"]  # pods reach artifacts through MLflow


def test_defaults_keep_artifacts_on_the_volume_and_the_default_identity(helm: Path, tmp_path: Path) -> None:
    result = _template(helm, {}, tmp_path)
    assert result.returncode == 0, result.stderr
    objects = [d for d in yaml.safe_load_all(result.stdout) if d]
    (deployment,) = [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "stockops-mlflow"
    ]
    pod = deployment["spec"]["template"]["spec"]
    assert "serviceAccountName" not in pod
    assert "--artifacts-destination=/mlflow/artifacts" in pod["containers"][0]["command"]
    assert not [
        o for o in objects if o["kind"] == "ServiceAccount" and o["metadata"]["name"] == "stockops-mlflow"
    ]


@pytest.mark.parametrize("destination", ["bucket/no-scheme", "ftp://x", "relative/path"])
def test_schema_rejects_an_artifact_store_mlflow_cannot_use(
    helm: Path, tmp_path: Path, destination: str
) -> None:
    result = _template(helm, {"mlflow": {"artifactsDestination": destination}}, tmp_path)
    assert result.returncode != 0 and "artifactsDestination" in result.stderr
