"""What makes our training and predictor pods pass PodSecurity ``restricted``, in one place.

The ``restricted`` profile (enforced per namespace by the API server's PodSecurity admission) requires
``runAsNonRoot``, ``seccompProfile: RuntimeDefault``, ``allowPrivilegeEscalation: false`` and
``capabilities.drop: [ALL]``; we add ``readOnlyRootFilesystem`` (not required by the profile, asked by
most cluster policies) and give the two places our processes write an ``emptyDir``: ``/tmp`` and the
image's home directory, which holds ``STOCKOPS_HOME`` (the Feast store and scratch files of one run)
and the caches libraries keep under ``$HOME`` (matplotlib, pip). The images run as UID 1000 (``USER
1000`` in images/*/Dockerfile), so the pod states that UID and ``fsGroup`` for the volumes.

Neither workload talks to the Kubernetes API, so ``automountServiceAccountToken`` is false.
"""

from __future__ import annotations

from typing import Any

IMAGE_UID = 1000  # USER in images/trainer/Dockerfile and images/predictor/Dockerfile
IMAGE_HOME = "/home/stockops"  # WORKDIR/HOME there; STOCKOPS_HOME is IMAGE_HOME/.stockops
SCRATCH_VOLUMES = (("tmp", "/tmp"), ("home", IMAGE_HOME))


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
    }


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": IMAGE_UID,
        "runAsGroup": IMAGE_UID,
        "fsGroup": IMAGE_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def scratch_mounts() -> list[dict[str, Any]]:
    return [{"name": name, "mountPath": path} for name, path in SCRATCH_VOLUMES]


def scratch_volumes() -> list[dict[str, Any]]:
    return [{"name": name, "emptyDir": {}} for name, _ in SCRATCH_VOLUMES]


def restricted_pod_fields() -> dict[str, Any]:
    """The pod-level fields: security context, scratch volumes, no API token."""
    return {
        "securityContext": pod_security_context(),
        "volumes": scratch_volumes(),
        "automountServiceAccountToken": False,
    }


def restricted_container_fields() -> dict[str, Any]:
    """The container-level fields: security context and the scratch mounts."""
    return {"securityContext": container_security_context(), "volumeMounts": scratch_mounts()}
