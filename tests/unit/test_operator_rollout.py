"""Whether a new model version serves: KServe's Ready and the predictor Deployment's rollout.

KServe v0.20 in RawDeployment mode writes no status.observedGeneration and keeps Ready=True while the
old pods answer during a rolling update, so the Deployment decides, as `kubectl rollout status` does.
"""

from __future__ import annotations

from typing import Any

import pytest

from stockops.operator.observations import (
    InferenceServiceObservation,
    RolloutObservation,
    deployment_rollout,
    missing_predictor,
    needs_rollout_read,
    observe_inference_service,
    observe_rollout,
    served_version,
)


def deployment(
    version: str = "2",
    *,
    generation: int = 2,
    observed: int = 2,
    replicas: int | None = 1,
    status: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    rolled = {"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}
    env = [{"name": "STOCKOPS_MODEL_VERSION", "value": version}]
    spec: dict[str, Any] = {"template": {"spec": {"containers": [{"name": "kserve-container", "env": env}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "metadata": {"name": "aapl-predictor", "generation": generation},
        "spec": spec,
        "status": {
            "observedGeneration": observed,
            **(rolled if status is None else status),
            "conditions": conditions or [],
        },
    }


def test_a_deployment_whose_pods_all_run_the_new_template_is_rolled_out() -> None:
    assert deployment_rollout(deployment()) == (True, "1 of 1 replicas rolled out")
    assert observe_rollout(deployment("7")) == RolloutObservation("7", True, "1 of 1 replicas rolled out")


def test_a_spec_the_deployment_controller_has_not_seen_is_not_rolled_out() -> None:
    complete, why = deployment_rollout(deployment(generation=3, observed=2))
    assert not complete and "observe the new spec" in why


@pytest.mark.parametrize(
    ("status", "why"),
    [
        # the new pod is created but not Ready (its model cannot load): the old one still answers
        (
            {"replicas": 2, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1},
            "1 old replicas pending termination",
        ),
        ({"replicas": 1, "updatedReplicas": 0, "availableReplicas": 1}, "0 of 1 new replicas updated"),
        ({"replicas": 1, "updatedReplicas": 1, "availableReplicas": 0}, "0 of 1 updated replicas available"),
    ],
)
def test_old_pods_left_or_new_pods_unavailable_is_not_rolled_out(status: dict[str, Any], why: str) -> None:
    assert deployment_rollout(deployment(status=status)) == (False, why)


def test_an_exceeded_progress_deadline_says_so() -> None:
    stalled = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
               "message": 'ReplicaSet "aapl-predictor-5d9" has timed out progressing.'}  # fmt: skip
    complete, why = deployment_rollout(deployment(conditions=[stalled]))
    assert not complete and "progress deadline" in why and "timed out" in why


def test_a_missing_replica_count_means_one() -> None:
    assert deployment_rollout(deployment(replicas=None))[0]
    two = {"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    assert deployment_rollout(deployment(replicas=2, status=two)) == (False, "1 of 2 new replicas updated")


def isvc(version: str = "2", ready: bool = True, **kw: Any) -> InferenceServiceObservation:
    return InferenceServiceObservation("aapl", ready, "http://aapl", version, **kw)


def test_ready_for_a_version_not_rolled_out_serves_the_verified_one() -> None:
    rolling = RolloutObservation("2", False, "1 old replicas pending termination")
    assert served_version(isvc(rollout=rolling), verified="1") == "1"
    assert served_version(isvc(rollout=rolling), verified=None) is None  # a first rollout: nothing yet


def test_a_complete_rollout_of_a_ready_isvc_serves_its_template_version() -> None:
    assert served_version(isvc(rollout=RolloutObservation("2", True, "done")), verified="1") == "2"
    # KServe has not copied the new spec into the Deployment yet: the old template is what serves
    assert served_version(isvc(rollout=RolloutObservation("1", True, "done")), verified="1") == "1"
    # not Ready: a complete rollout is not enough
    assert served_version(isvc(ready=False, rollout=RolloutObservation("2", True, "done")), "1") == "1"


def test_the_deployment_is_read_only_for_a_ready_isvc_of_an_unverified_version() -> None:
    assert needs_rollout_read(isvc("2"), verified="1")
    assert needs_rollout_read(isvc("2"), verified=None)
    assert not needs_rollout_read(isvc("2"), verified="2")  # steady: no request
    assert not needs_rollout_read(isvc("2", ready=False), verified="1")  # its Ready change comes first


def test_a_missing_observed_generation_is_not_trusted() -> None:
    body = {
        "metadata": {"name": "aapl", "generation": 2},
        "spec": {"predictor": {"containers": [{"env": [{"name": "STOCKOPS_MODEL_VERSION", "value": "2"}]}]}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    observed = observe_inference_service(body)
    assert observed.ready and observed.generation_observed is None
    assert served_version(observed, verified="1") == "1"  # Ready alone does not make version 2 serve
    assert not missing_predictor(observed).complete  # and no Deployment to say so: not yet either
    # KServe catches its observedGeneration up before the new pods are Ready: not enough either
    current = observe_inference_service({**body, "status": {**body["status"], "observedGeneration": 2}})
    assert current.ready and current.generation_observed is True
    assert served_version(current, verified="1") == "1"


def test_ready_stays_what_kserve_says_while_its_observed_generation_lags_a_patch() -> None:
    """Right after a patch the old pods KServe reports Ready on still answer (the old version)."""
    body = {
        "metadata": {"name": "aapl", "generation": 3},
        "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]},
    }
    lagging = observe_inference_service(body)
    assert lagging.ready and lagging.generation_observed is False
    assert not missing_predictor(lagging).complete


def test_without_a_predictor_deployment_a_current_observed_generation_decides() -> None:
    """Serverless mode: Knative runs the pods, KServe's Ready covers the latest revision."""
    current = missing_predictor(isvc(generation_observed=True))
    assert current == RolloutObservation("2", True, "the InferenceService observed its spec")
