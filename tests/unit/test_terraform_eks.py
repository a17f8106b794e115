"""terraform/eks read as data (python-hcl2): pins, inputs, outputs, and the GPU scheduling contract.

The contract: GPU nodes carry the taint nvidia.com/gpu=true:NoSchedule and the label
nvidia.com/gpu.present=true; the operator gives every GPU Job a toleration (operator: Exists, so any
value of that key) and the node selector of its settings; the chart passes `training.gpuNodeSelector`
(null: the operator's default, no selector); Terraform's Helm values for the chart and the NVIDIA
device plugin use the same selector and toleration. A change to any one of them without the others fails here.
The real linters (tflint, checkov, tofu fmt) run in test_terraform_tools.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from stockops.crd.parent_model import ParentModelSpec
from stockops.operator.builders import GPU_RESOURCE, Owner, build_training_job
from stockops.operator.settings import OperatorSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
TF_DIR = REPO_ROOT / "terraform" / "eks"
MODULE_DIR = TF_DIR / "modules" / "stockops-eks"
EXAMPLE_DIR = TF_DIR / "examples" / "complete"
# EKS's API spells taint effects differently from Kubernetes.
EKS_EFFECTS = {
    "NO_SCHEDULE": "NoSchedule",
    "NO_EXECUTE": "NoExecute",
    "PREFER_NO_SCHEDULE": "PreferNoSchedule",
}


def _plain(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals; drop them (expressions stay `${...}`)."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _load(folder: Path) -> dict[str, list[Any]]:
    """All top-level blocks of the .tf files in `folder`, merged by block type."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(folder.glob("*.tf")):
        with path.open() as handle:
            for key, blocks in hcl2.load(handle).items():
                merged.setdefault(key, []).extend(_plain(blocks))
    return merged


def _named(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {name: body for block in blocks for name, body in block.items()}


@pytest.fixture(scope="module")
def module() -> dict[str, list[Any]]:
    return _load(MODULE_DIR)


@pytest.fixture(scope="module")
def tf_locals(module: dict[str, list[Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in module["locals"]:
        merged.update(block)
    return merged


def _node_group(module: dict[str, list[Any]], name: str) -> dict[str, Any]:
    return _named(module["module"])["eks"]["eks_managed_node_groups"][name]


@pytest.mark.parametrize("folder", [MODULE_DIR, EXAMPLE_DIR], ids=["module", "example"])
def test_providers_are_pinned_below_the_next_major(folder: Path) -> None:
    (terraform,) = _load(folder)["terraform"]
    assert terraform["required_version"].startswith(">=")
    providers = {name: spec for block in terraform["required_providers"] for name, spec in block.items()}
    assert set(providers) == {"aws", "helm"}
    for name, spec in providers.items():
        assert spec["source"] == f"hashicorp/{name}"
        assert "<" in spec["version"] or "~>" in spec["version"], f"{name} is not capped: {spec['version']}"


def test_eks_and_vpc_modules_are_the_registry_majors_we_wrote_against(module: dict[str, list[Any]]) -> None:
    modules = _named(module["module"])
    assert (modules["eks"]["source"], modules["eks"]["version"]) == (
        "terraform-aws-modules/eks/aws",
        "~> 21.0",
    )
    assert modules["vpc"]["source"] == "terraform-aws-modules/vpc/aws"
    eks = modules["eks"]
    # v21 names (v20's cluster_name / cluster_version / cluster_addons were renamed).
    assert {"name", "kubernetes_version", "addons", "endpoint_public_access"} <= set(eks)
    assert not {k for k in eks if k.startswith("cluster_")}, "v20 input names in a v21 module call"
    assert eks["subnet_ids"] == "${module.vpc.private_subnets}", "nodes must live in the private subnets"


@pytest.mark.parametrize("folder", [MODULE_DIR, EXAMPLE_DIR], ids=["module", "example"])
def test_every_variable_and_output_is_described_and_variables_are_typed(folder: Path) -> None:
    blocks = _load(folder)
    for name, body in _named(blocks.get("variable", [])).items():
        assert body.get("description"), f"variable {name} has no description"
        assert body.get("type"), f"variable {name} has no type"
    for name, body in _named(blocks.get("output", [])).items():
        assert body.get("description"), f"output {name} has no description"


def test_inputs_users_get_wrong_are_validated(module: dict[str, list[Any]]) -> None:
    variables = _named(module["variable"])
    for name in ("name", "kubernetes_version", "gpu_ami_type", "gpu_node_count", "gpu_instance_types",
                 "kserve_deployment_mode", "endpoint_public_access_cidrs", "vpc_cidr"):  # fmt: skip
        assert variables[name].get("validation"), f"variable {name} has no validation"


def test_outputs_name_the_cluster_the_kubeconfig_command_and_the_bucket() -> None:
    outputs = _named(_load(EXAMPLE_DIR)["output"])
    assert {"cluster_name", "kubeconfig_command", "mlflow_artifacts_bucket"} <= set(outputs)


def test_gpu_node_group_uses_an_nvidia_ami_with_the_taint_and_label(
    module: dict[str, list[Any]], tf_locals: dict[str, Any]
) -> None:
    gpu = _node_group(module, "gpu")
    ami = _named(module["variable"])["gpu_ami_type"]
    assert gpu["ami_type"] == "${var.gpu_ami_type}" and ami["default"] == "AL2023_x86_64_NVIDIA"
    assert gpu["taints"] == {"gpu": "${local.gpu_taint}"}
    assert gpu["labels"] == "${local.gpu_labels}"
    assert tf_locals["gpu_taint"] == {"key": GPU_RESOURCE, "value": "true", "effect": "NO_SCHEDULE"}
    cpu = _node_group(module, "cpu")
    assert "taints" not in cpu and cpu["ami_type"] == "AL2023_x86_64_STANDARD"


def _tolerates(toleration: dict[str, Any], taint: dict[str, str]) -> bool:
    """Kubernetes' rule: same key (or empty key with Exists), same effect (or none), value by operator."""
    if toleration.get("effect") and toleration["effect"] != taint["effect"]:
        return False
    if toleration.get("key", "") not in ("", taint["key"]):
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return True
    return bool(toleration.get("key")) and toleration.get("value", "") == taint["value"]


def _kubernetes_taint(tf_taint: dict[str, str]) -> dict[str, str]:
    return {**tf_taint, "effect": EKS_EFFECTS[tf_taint["effect"]]}


def _gpu_pod(settings: OperatorSettings) -> dict[str, Any]:
    spec = ParentModelSpec.model_validate({"resources": {"gpu": 1}})
    owner = Owner("ParentModel", "gspc", "ml", "uid", 1)
    return dict(build_training_job(owner, spec, settings, job_name="gspc-x")["spec"]["template"]["spec"])


def test_gpu_jobs_tolerate_the_terraform_taint_whatever_its_value(tf_locals: dict[str, Any]) -> None:
    taint = _kubernetes_taint(tf_locals["gpu_taint"])
    pod = _gpu_pod(OperatorSettings())
    assert any(_tolerates(t, taint) for t in pod["tolerations"])
    assert any(_tolerates(t, {**taint, "value": "any-other-value"}) for t in pod["tolerations"])
    assert tf_locals["gpu_toleration"] in pod["tolerations"], "Terraform's toleration is the operator's"
    assert not any(_tolerates(t, {**taint, "key": "example.com/other"}) for t in pod["tolerations"])


def test_gpu_jobs_select_the_gpu_nodes_by_their_terraform_label(tf_locals: dict[str, Any]) -> None:
    labels = {**tf_locals["gpu_node_selector"], "stockops.io/node-role": "gpu"}
    assert tf_locals["gpu_labels"] == '${merge(local.gpu_node_selector, {"stockops.io/node-role" = "gpu"})}'
    # what Terraform hands the chart is what the operator then selects, and the GPU nodes carry it
    settings = OperatorSettings(gpu_node_selector=tf_locals["gpu_node_selector"])
    selector = _gpu_pod(settings)["nodeSelector"]
    assert tf_locals["gpu_node_selector"].items() <= selector.items() <= labels.items()


def test_chart_and_terraform_give_the_operator_the_same_gpu_selector(tf_locals: dict[str, Any]) -> None:
    values = yaml.safe_load((REPO_ROOT / "charts" / "stockops" / "values.yaml").read_text())
    assert values["training"]["gpuNodeSelector"] is None  # null: the operator's default (no selector)
    assert OperatorSettings().gpu_node_selector == {}
    stockops_values = tf_locals["stockops_values"]
    assert stockops_values["training"]["gpuNodeSelector"] == "${local.gpu_node_selector}"
    assert values["predictor"]["kserveDeploymentMode"] == OperatorSettings().kserve_deployment_mode


def test_device_plugin_runs_on_the_gpu_nodes_through_their_taint(
    module: dict[str, list[Any]], tf_locals: dict[str, Any]
) -> None:
    values = _named(_releases(module))["nvidia_device_plugin"]["values"][0]
    assert "nodeSelector = local.gpu_node_selector" in values
    assert "tolerations = [local.gpu_toleration]" in values
    assert _tolerates(tf_locals["gpu_toleration"], _kubernetes_taint(tf_locals["gpu_taint"]))
    assert tf_locals["install_device_plugin"] == '${var.gpu_ami_type == "AL2023_x86_64_NVIDIA"}'


def _releases(module: dict[str, list[Any]]) -> list[dict[str, Any]]:
    return [body for block in module["resource"] for kind, body in block.items() if kind == "helm_release"]


def test_kserve_mode_reaches_kserve_and_the_operator_from_one_variable(
    module: dict[str, list[Any]], tf_locals: dict[str, Any]
) -> None:
    releases = _named(_releases(module))
    assert "deploymentMode = var.kserve_deployment_mode" in releases["kserve"]["values"][0]
    predictor = tf_locals["stockops_values"]["predictor"]
    assert predictor["kserveDeploymentMode"] == "${var.kserve_deployment_mode}"
    variable = _named(module["variable"])["kserve_deployment_mode"]
    assert variable["default"] == OperatorSettings().kserve_deployment_mode


def test_mlflow_alone_gets_the_bucket_through_pod_identity(
    module: dict[str, list[Any]], tf_locals: dict[str, Any]
) -> None:
    resources = {f"{kind}.{name}": body for block in module["resource"] for kind, named in block.items()
                 for name, body in named.items()}  # fmt: skip
    association = resources["aws_eks_pod_identity_association.mlflow"]
    assert association["service_account"] == "${local.mlflow_service_account}"
    service_account = tf_locals["stockops_values"]["mlflow"]["serviceAccount"]
    assert service_account == {"create": True, "name": "${local.mlflow_service_account}"}
    assert [k for k in resources if k.startswith("aws_eks_pod_identity_association.")] == [
        "aws_eks_pod_identity_association.mlflow"
    ]
    documents = [
        body for block in module["data"] for kind, body in block.items() if kind == "aws_iam_policy_document"
    ]
    policy = _named(documents)
    statements = policy["mlflow_artifacts"]["statement"]
    actions = {a for s in statements for a in s["actions"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "kms:Decrypt",
                       "kms:GenerateDataKey"}  # fmt: skip
    assert not any("*" in a for a in actions)
    objects = next(s for s in statements if "s3:GetObject" in s["actions"])
    assert objects["resources"] == ["${aws_s3_bucket.mlflow.arn}/${var.artifact_prefix}/*"]


def test_every_checkov_skip_says_why() -> None:
    for path in TF_DIR.rglob("*.tf"):
        for match in re.finditer(r"checkov:skip=([A-Z0-9_]+)(:?)(.*)", path.read_text()):
            assert match.group(2) == ":" and len(match.group(3).strip()) >= 30, (path.name, match.group(0))


def test_readme_states_the_gpu_price_per_hour() -> None:
    readme = (TF_DIR / "README.md").read_text()
    instance = _named(_load(EXAMPLE_DIR)["variable"])["gpu_instance_types"]["default"][0]
    assert re.search(rf"{re.escape(instance)}.*\$\d+\.\d+", readme), f"no list price for {instance}"
