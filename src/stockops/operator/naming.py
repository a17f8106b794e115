"""Deterministic names and labels for the objects the operator creates.

A Job's name is a pure function of its owner (name, uid), the model-changing part of its spec and
the trigger (parent version, retrain token). That makes "look before you create" exact: after a
restart the operator computes the same name and finds the Job instead of creating a duplicate. The
uid in the hash keeps a deleted-and-recreated resource from adopting its predecessor's Jobs.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME = 63  # DNS-1123 label: Job names end up in the pods' `job-name` label.
MAX_ISVC_NAME = 45  # KServe derives longer names (predictor-<name>-...) that must stay under 63.

MANAGED_BY = "stockops-operator"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_NAME = "app.kubernetes.io/name"
# The owner resource's name. Not app.kubernetes.io/instance: Argo CD's label tracking reads that label, so
# objects carrying it would be claimed (and pruned) by whichever Application uses the same value.
LABEL_INSTANCE = "stockops.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_OWNER_UID = "stockops.io/owner-uid"
LABEL_OWNER_KIND = "stockops.io/owner-kind"
LABEL_GENERATION = "stockops.io/generation"
# app.kubernetes.io/component of the Jobs we create: what a Job does decides how its result is read.
COMPONENT_TRAINING = "training"
COMPONENT_MONITOR = "monitor"

ANNOTATION_TERMINATION = "stockops.io/termination-message"
ANNOTATION_RETRAIN = "stockops.io/retrain"
ANNOTATION_MONITOR = "stockops.io/monitor"
ANNOTATION_PARENT_VERSION = "stockops.io/parent-version"
ANNOTATION_TICKER = "stockops.io/ticker"
ANNOTATION_MODEL_VERSION = "stockops.io/model-version"
ANNOTATION_TRIGGER = "stockops.io/trigger"
ANNOTATION_SPEC_HASH = "stockops.io/spec-hash"

_INVALID = re.compile(r"[^a-z0-9-]+")


def short_hash(*parts: object, length: int = 8) -> str:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return digest[:length]


def _label_safe(text: str, limit: int) -> str:
    """Lower-case DNS-1123 label characters only, trimmed to `limit`, no leading/trailing dash."""
    cleaned = _INVALID.sub("-", text.lower()).strip("-")
    return cleaned[:limit].rstrip("-")


def job_name(owner_name: str, owner_uid: str, identity: str, trigger: str = "") -> str:
    """`<name>-t<identity>[-<trigger>]-<hash>`, at most 63 characters, stable for the same inputs.

    `identity` is the hash of the spec fields that change the trained model (`builders.training_identity`),
    not the generation, so editing serving or promotion finds the same Job; `trigger` is what else starts
    a training: a parent version (`p3`), a retrain token, a schedule firing, a monitoring verdict.
    """
    suffix = short_hash(owner_uid, identity, trigger)
    readable = f"{owner_name}-t{str(identity)[:6]}" + (f"-{trigger}" if trigger else "")
    prefix = _label_safe(readable, MAX_NAME - len(suffix) - 1) or "train"
    return f"{prefix}-{suffix}"


def monitor_job_name(owner_name: str, owner_uid: str, token: str) -> str:
    """`<name>-mon-<hash>` for the check answering `token` (a schedule firing or an annotation value)."""
    suffix = short_hash(owner_uid, "monitor", token)
    prefix = _label_safe(f"{owner_name}-mon", MAX_NAME - len(suffix) - 1) or "mon"
    return f"{prefix}-{suffix}"


def inference_service_name(owner_name: str, owner_uid: str) -> str:
    """The CR name when it is a valid short DNS-1035 label; otherwise a trimmed name plus a hash."""
    if re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", owner_name) and len(owner_name) <= MAX_ISVC_NAME:
        return owner_name
    suffix = short_hash(owner_uid, owner_name, length=6)
    prefix = _label_safe(owner_name, MAX_ISVC_NAME - len(suffix) - 4)
    return f"tm-{prefix}-{suffix}" if prefix else f"tm-{suffix}"


def label_value(text: str) -> str:
    """A label value (<= 63 chars, alphanumeric ends) naming `text`, hashed when it must be shortened."""
    if re.fullmatch(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]", text) and len(text) <= MAX_NAME:
        return text
    suffix = short_hash(text, length=8)
    return f"{_label_safe(text, MAX_NAME - 9)}-{suffix}".lstrip("-")


def owner_labels(kind: str, owner_name: str, owner_uid: str, component: str, app: str) -> dict[str, str]:
    """The labels every object we create carries (used to find them again and to clean up)."""
    return {
        LABEL_NAME: app,
        LABEL_INSTANCE: label_value(owner_name),
        LABEL_COMPONENT: component,
        LABEL_PART_OF: "stockops",
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_OWNER_KIND: kind.lower(),
        LABEL_OWNER_UID: owner_uid,
    }
