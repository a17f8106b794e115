"""The pods the operator builds are admitted by the real PodSecurity admission at level ``restricted``.

The API server's PodSecurity plugin enforces a namespace's ``pod-security.kubernetes.io/enforce`` label
on Pod creation. Each pod is created with a server-side dry run (admission runs, nothing is stored, so
no node runs it): our training pod and our predictor pod are admitted; the same pods without
the security fields are refused, naming what the profile requires, which shows the check is live.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s_client

from stockops.crd.parent_model import ParentModelSpec
from stockops.crd.ticker_model import TickerModelSpec
from stockops.operator.builders import Owner, build_inference_service, build_training_job
from stockops.operator.settings import OperatorSettings

pytestmark = pytest.mark.e2e

SETTINGS = OperatorSettings(trainer_image="stockops/trainer:test", predictor_image="stockops/predictor:test")


@pytest.fixture
def restricted_namespace(e2e_cluster: Any) -> Iterator[str]:
    core = k8s_client.CoreV1Api(e2e_cluster.admin)
    name = f"e2e-restricted-{uuid.uuid4().hex[:6]}"
    labels = {"pod-security.kubernetes.io/enforce": "restricted", "stockops.io/e2e": "true"}
    core.create_namespace({"metadata": {"name": name, "labels": labels}})
    try:
        yield name
    finally:
        core.delete_namespace(name)


def _training_pod(namespace: str) -> dict[str, Any]:
    owner = Owner("ParentModel", "gspc", namespace, "uid-p", 1)
    template = build_training_job(owner, ParentModelSpec(), SETTINGS, job_name="gspc-1")["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "trainer"}, "spec": template["spec"]}


def _predictor_pod(namespace: str) -> dict[str, Any]:
    owner = Owner("TickerModel", "aapl", namespace, "uid-t", 1)
    spec = TickerModelSpec.model_validate({"ticker": "AAPL", "parentRef": {"name": "gspc"}})
    predictor = build_inference_service(
        owner, spec, SETTINGS, name="aapl", model_name="stockops-aapl", model_version="1"
    )["spec"]["predictor"]
    pod_fields = {k: v for k, v in predictor.items() if k not in ("minReplicas", "maxReplicas")}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "predictor"}, "spec": pod_fields}


def _without_security(pod: dict[str, Any]) -> dict[str, Any]:
    bare = copy.deepcopy(pod)
    bare["spec"].pop("securityContext")
    for container in bare["spec"]["containers"]:
        container.pop("securityContext")
    return bare


@pytest.mark.parametrize("build", [_training_pod, _predictor_pod], ids=["training", "predictor"])
def test_our_pods_are_admitted_in_a_restricted_namespace(
    e2e_cluster: Any, restricted_namespace: str, build
) -> None:
    core = k8s_client.CoreV1Api(e2e_cluster.admin)
    pod = build(restricted_namespace)

    admitted = core.create_namespaced_pod(restricted_namespace, pod, dry_run="All")
    assert admitted.spec.security_context.run_as_non_root is True

    with pytest.raises(k8s_client.ApiException) as refused:
        core.create_namespaced_pod(restricted_namespace, _without_security(pod), dry_run="All")
    assert refused.value.status == 403
    message = json.loads(refused.value.body)["message"]
    assert 'violates PodSecurity "restricted' in message
    assert all(rule in message for rule in ("allowPrivilegeEscalation", "runAsNonRoot", "seccompProfile"))
