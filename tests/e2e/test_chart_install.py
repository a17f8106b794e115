"""`helm install` of charts/stockops into the API server under test, and what its RBAC really allows.

Locally there is no kubelet, so no pod starts; what is proven is that a real kube-apiserver accepts every
object the chart renders (schemas, RBAC objects, the CRDs from the chart's crds/), that the operator's
ServiceAccount gets exactly the access the operator needs (asked of the server's own authorizer with
SubjectAccessReviews), and that `helm uninstall` keeps the MLflow claim. Release names differ from the
`stockops-operator` objects other e2e tests create, so the tests can share a cluster.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s_client

from stockops.devcluster import DevClusterError, build_tool

RESTRICTED_WARN = "pod-security.kubernetes.io/warn"


@pytest.fixture(scope="module")
def helm(repo_root: Path, e2e_cluster: Any, tmp_path_factory: pytest.TempPathFactory):
    """helm(*args) as the cluster admin -> CompletedProcess (never raises on a non-zero exit)."""
    try:
        binary = str(build_tool(repo_root, "helm"))
    except DevClusterError as exc:
        pytest.fail(f"no helm to install the chart with: {exc}")
    home = tmp_path_factory.mktemp("helm-home")
    env = {
        **os.environ,
        "KUBECONFIG": str(e2e_cluster.kubeconfig),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }

    def _helm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *args], capture_output=True, text=True, env=env, check=False, timeout=180
        )

    return _helm


def _allowed(
    admin: k8s_client.ApiClient, user: str, verb: str, group_resource: str, namespace: str = ""
) -> bool:
    """Ask the API server's authorizer whether `user` may `verb` `group_resource` ("jobs.batch",
    "tickermodels.stockops.io/status", "pods"; the core group has no suffix)."""
    resource, _, subresource = group_resource.partition("/")
    name, _, group = resource.partition(".")
    review = k8s_client.V1SubjectAccessReview(
        spec=k8s_client.V1SubjectAccessReviewSpec(
            user=user,
            groups=["system:serviceaccounts", "system:authenticated"],
            resource_attributes=k8s_client.V1ResourceAttributes(
                group=group,
                resource=name,
                subresource=subresource or None,
                verb=verb,
                namespace=namespace or None,
            ),
        )
    )
    answer = k8s_client.AuthorizationV1Api(admin).create_subject_access_review(review)
    return bool(answer.status.allowed)


def test_default_install_is_accepted_and_grants_exactly_the_operators_access(
    helm: Any, e2e_cluster: Any, e2e_namespace: str, repo_root: Path
) -> None:
    release = f"chart-{e2e_namespace}"
    chart = str(repo_root / "charts" / "stockops")
    # The API server's PodSecurity admission warns about every pod template below the "restricted"
    # profile (non-root, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp).
    core = k8s_client.CoreV1Api(e2e_cluster.admin)
    core.patch_namespace(e2e_namespace, {"metadata": {"labels": {RESTRICTED_WARN: "restricted"}}})
    installed = helm("install", release, chart, "-n", e2e_namespace)
    try:
        assert installed.returncode == 0, installed.stderr
        assert "PodSecurity" not in installed.stderr, installed.stderr
        assert "kubectl get pm,tkm -A" in installed.stdout  # NOTES.txt
        name = f"{release}-stockops"
        apps = k8s_client.AppsV1Api(e2e_cluster.admin)
        deployments = {d.metadata.name for d in apps.list_namespaced_deployment(e2e_namespace).items}
        assert deployments == {f"{name}-operator", f"{name}-mlflow", f"{name}-redis"}

        account = f"system:serviceaccount:{e2e_namespace}:{name}-operator"
        admin = e2e_cluster.admin
        elsewhere = "some-user-namespace"
        for verb, resource in [
            ("watch", "tickermodels.stockops.io"),
            ("patch", "tickermodels.stockops.io/status"),
            ("update", "parentmodels.stockops.io/finalizers"),
            ("create", "jobs.batch"),
            ("delete", "jobs.batch"),
            ("create", "inferenceservices.serving.kserve.io"),
            ("create", "events"),
            ("list", "pods"),
        ]:
            assert _allowed(admin, account, verb, resource, elsewhere), f"operator may not {verb} {resource}"
        assert _allowed(admin, account, "watch", "customresourcedefinitions.apiextensions.k8s.io")
        for verb, resource in [
            ("create", "tickermodels.stockops.io"),  # users create resources, the operator never does
            ("delete", "parentmodels.stockops.io"),
            ("update", "tickermodels.stockops.io"),
            ("get", "secrets"),
            ("create", "pods"),
            ("create", "deployments.apps"),
        ]:
            assert not _allowed(admin, account, verb, resource, elsewhere), f"operator may {verb} {resource}"
    finally:
        uninstalled = helm("uninstall", release, "-n", e2e_namespace)
    assert uninstalled.returncode == 0, uninstalled.stderr
    claims = {c.metadata.name for c in core.list_namespaced_persistent_volume_claim(e2e_namespace).items}
    assert claims == {f"{release}-stockops-mlflow"}, "the MLflow registry's claim must survive uninstall"
    rbac = k8s_client.RbacAuthorizationV1Api(e2e_cluster.admin)
    assert f"{release}-stockops-operator" not in {r.metadata.name for r in rbac.list_cluster_role().items}


def test_namespaced_install_confines_the_operator_to_its_namespaces(
    helm: Any, e2e_cluster: Any, e2e_namespace: str, repo_root: Path
) -> None:
    release = f"chart-ns-{e2e_namespace}"
    chart = str(repo_root / "charts" / "stockops")
    installed = helm(
        "install", release, chart, "-n", e2e_namespace,
        "--set", f"operator.watchNamespaces={{{e2e_namespace}}}",
        "--set", "mlflow.enabled=false", "--set", "mlflow.trackingUri=http://mlflow.example.com",
        "--set", "redis.enabled=false",
    )  # fmt: skip
    try:
        assert installed.returncode == 0, installed.stderr
        account = f"system:serviceaccount:{e2e_namespace}:{release}-stockops-operator"
        admin = e2e_cluster.admin
        assert _allowed(admin, account, "create", "jobs.batch", e2e_namespace)
        assert _allowed(admin, account, "patch", "tickermodels.stockops.io/status", e2e_namespace)
        assert not _allowed(admin, account, "create", "jobs.batch", "another-namespace")
        assert not _allowed(admin, account, "list", "tickermodels.stockops.io", "another-namespace")
        assert _allowed(admin, account, "list", "customresourcedefinitions.apiextensions.k8s.io")
    finally:
        uninstalled = helm("uninstall", release, "-n", e2e_namespace)
    assert uninstalled.returncode == 0, uninstalled.stderr


def test_pod_security_warnings_reach_helm(
    helm: Any, e2e_cluster: Any, e2e_namespace: str, repo_root: Path
) -> None:
    """The control for the check above: a root, privilege-escalating operator pod is warned about."""
    core = k8s_client.CoreV1Api(e2e_cluster.admin)
    core.patch_namespace(e2e_namespace, {"metadata": {"labels": {RESTRICTED_WARN: "restricted"}}})
    release = f"chart-lax-{e2e_namespace}"
    installed = helm(
        "install", release, str(repo_root / "charts" / "stockops"), "-n", e2e_namespace,
        "--set", "mlflow.enabled=false", "--set", "mlflow.trackingUri=http://mlflow.example.com",
        "--set", "redis.enabled=false",
        "--set", "securityContext.allowPrivilegeEscalation=true",
        "--set", "podSecurityContext.runAsNonRoot=false", "--set", "podSecurityContext.runAsUser=0",
    )  # fmt: skip
    try:
        assert installed.returncode == 0, installed.stderr
        assert "would violate PodSecurity" in installed.stderr
        assert "allowPrivilegeEscalation" in installed.stderr and "runAsUser=0" in installed.stderr
    finally:
        assert helm("uninstall", release, "-n", e2e_namespace).returncode == 0
