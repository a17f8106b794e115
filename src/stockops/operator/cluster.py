"""The operator's writes to Kubernetes, behind a small `Cluster` port.

`KubeCluster` speaks the REST API directly with `requests` and the credentials the kubernetes package
loads (kubeconfig or in-cluster service account): plain JSON in and out, explicit merge-patch content
types, no generated models in the hot path. Reconcile logic depends only on the `Cluster` protocol.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from stockops.crd.base import GROUP, VERSION
from stockops.operator.naming import LABEL_OWNER_UID
from stockops.operator.observations import (
    LABEL_KSERVE_ISVC,
    InferenceServiceObservation,
    JobObservation,
    RolloutObservation,
    missing_predictor,
    observe_inference_service,
    observe_job,
    observe_rollout,
    predictor_deployment_name,
)

KSERVE_PATH = "/apis/serving.kserve.io/v1beta1"
MERGE_PATCH = "application/merge-patch+json"
PLURALS = {"ParentModel": "parentmodels", "TickerModel": "tickermodels", "Analysis": "analyses"}


class KubeApiError(RuntimeError):
    """A Kubernetes API call failed; the message names the call and the server's reason."""

    def __init__(self, status: int, what: str, message: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {message}")
        self.status = status


class ConfigMapTakenError(KubeApiError):
    """A ConfigMap of the name we need exists and is not ours: we never overwrite it."""


class Cluster(Protocol):
    """What a reconcile pass may do to the cluster."""

    def create_job(self, manifest: dict[str, Any]) -> JobObservation: ...
    def delete_job(self, namespace: str, name: str) -> None: ...
    def set_job_suspended(self, namespace: str, name: str, suspended: bool) -> None: ...
    def termination_message(self, namespace: str, job_name: str) -> str | None: ...
    def pod_waiting(self, namespace: str, job_name: str) -> tuple[str, str] | None:
        """(reason, message) of the Job's newest pod's waiting container, if it waits."""

    def apply_config_map(self, manifest: dict[str, Any]) -> None:
        """Create the ConfigMap, or replace ours of the same name (ConfigMapTaken: another owner's)."""

    def create_inference_service(self, manifest: dict[str, Any]) -> InferenceServiceObservation: ...
    def update_inference_service(self, manifest: dict[str, Any]) -> InferenceServiceObservation: ...
    def delete_inference_service(self, namespace: str, name: str) -> None: ...
    def predictor_rollout(self, namespace: str, isvc: InferenceServiceObservation) -> RolloutObservation:
        """Whether the InferenceService's predictor Deployment rolled out, and which version."""

    def patch_status(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> None: ...
    def delete_owned(self, namespace: str, owner_uid: str) -> list[str]: ...


class KubeRest:
    """Minimal JSON client for the Kubernetes API from a kubernetes.client.Configuration."""

    def __init__(self, configuration: Any, pool_size: int = 16, timeout: float = 30.0) -> None:
        self._config = configuration
        self._host = configuration.host.rstrip("/")
        self._timeout = timeout
        self._session = requests.Session()
        # The kubeconfig decides TLS: with trust_env, REQUESTS_CA_BUNDLE would replace its CA.
        self._session.trust_env = False
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        if configuration.verify_ssl:
            self._session.verify = configuration.ssl_ca_cert or True
        else:
            self._session.verify = False
        if configuration.cert_file:
            self._session.cert = (configuration.cert_file, configuration.key_file)
        self._lock = threading.Lock()

    def _auth_headers(self) -> dict[str, str]:
        with self._lock:  # the token refresh hook is not thread-safe
            auth = self._config.auth_settings().get("BearerToken")
        return {"Authorization": auth["value"]} if auth and auth.get("value") else {}

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        ok_missing: bool = False,
        ok_conflict: bool = False,
    ) -> dict[str, Any] | None:
        """Call the API; returns the JSON body, or None for 404 (ok_missing) / 409 (ok_conflict)."""
        headers = {"Accept": "application/json", **self._auth_headers()}
        if body is not None:
            headers["Content-Type"] = content_type
        response = self._session.request(
            method, self._host + path, json=body, params=params, headers=headers, timeout=self._timeout
        )
        if response.status_code == 404 and ok_missing:
            return None
        if response.status_code == 409 and ok_conflict:
            return None
        if response.status_code >= 300:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise KubeApiError(response.status_code, f"{method} {path}", message)
        return response.json() if response.content else {}


def _jobs(namespace: str) -> str:
    return f"/apis/batch/v1/namespaces/{quote(namespace)}/jobs"


def _isvcs(namespace: str) -> str:
    return f"{KSERVE_PATH}/namespaces/{quote(namespace)}/inferenceservices"


def _deployments(namespace: str) -> str:
    return f"/apis/apps/v1/namespaces/{quote(namespace)}/deployments"


def _config_maps(namespace: str) -> str:
    return f"/api/v1/namespaces/{quote(namespace)}/configmaps"


def _owner_uid(obj: dict[str, Any] | None) -> str | None:
    return (((obj or {}).get("metadata") or {}).get("labels") or {}).get(LABEL_OWNER_UID)


class KubeCluster:
    """`Cluster` over the Kubernetes REST API."""

    def __init__(self, rest: KubeRest) -> None:
        self._rest = rest

    def create_job(self, manifest: dict[str, Any]) -> JobObservation:
        """Create the Job; if it already exists (a concurrent pass, a restart), return that one."""
        namespace = manifest["metadata"]["namespace"]
        created = self._rest.request("POST", _jobs(namespace), body=manifest, ok_conflict=True)
        if created is None:
            created = self._rest.request("GET", f"{_jobs(namespace)}/{manifest['metadata']['name']}")
            owner = manifest["metadata"]["labels"][LABEL_OWNER_UID]
            found = ((created or {}).get("metadata") or {}).get("labels", {}).get(LABEL_OWNER_UID)
            if found != owner:
                raise KubeApiError(
                    409, "create Job", f"Job {manifest['metadata']['name']} belongs to {found}"
                )
        return observe_job(created or manifest)

    def delete_job(self, namespace: str, name: str) -> None:
        self._rest.request(
            "DELETE",
            f"{_jobs(namespace)}/{quote(name)}",
            body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
            ok_missing=True,
        )

    def set_job_suspended(self, namespace: str, name: str, suspended: bool) -> None:
        self._rest.request(
            "PATCH",
            f"{_jobs(namespace)}/{quote(name)}",
            body={"spec": {"suspend": suspended}},
            content_type=MERGE_PATCH,
        )

    def termination_message(self, namespace: str, job_name: str) -> str | None:
        """The trainer's message from the Job's newest terminated pod (real clusters)."""
        pods = self._rest.request(
            "GET",
            f"/api/v1/namespaces/{quote(namespace)}/pods",
            params={"labelSelector": f"job-name={job_name}"},
        )
        best: tuple[str, str] | None = None
        for pod in (pods or {}).get("items") or []:
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                terminated = (status.get("state") or {}).get("terminated") or {}
                message = terminated.get("message")
                if message:
                    finished = terminated.get("finishedAt") or ""
                    if best is None or finished >= best[0]:
                        best = (finished, message)
        return best[1] if best else None

    def pod_waiting(self, namespace: str, job_name: str) -> tuple[str, str] | None:
        """Why the Job's newest pod's container waits (e.g. CreateContainerConfigError for a missing
        Secret key, which the Job itself never reports)."""
        pods = self._rest.request(
            "GET",
            f"/api/v1/namespaces/{quote(namespace)}/pods",
            params={"labelSelector": f"job-name={job_name}"},
        )
        items = sorted(
            (pods or {}).get("items") or [],
            key=lambda pod: (pod.get("metadata") or {}).get("creationTimestamp") or "",
        )
        for pod in reversed(items):
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                waiting = (status.get("state") or {}).get("waiting") or {}
                if waiting.get("reason"):
                    return str(waiting["reason"]), str(waiting.get("message") or "")
            return None
        return None

    def apply_config_map(self, manifest: dict[str, Any]) -> None:
        """Create it; on a conflict replace it when it is ours (same owner-uid label), else refuse."""
        meta = manifest["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        created = self._rest.request("POST", _config_maps(namespace), body=manifest, ok_conflict=True)
        if created is not None:
            return
        existing = self._rest.request("GET", f"{_config_maps(namespace)}/{quote(name)}", ok_missing=True)
        if existing is None:  # deleted in between: create again
            self._rest.request("POST", _config_maps(namespace), body=manifest)
            return
        if _owner_uid(existing) != meta["labels"][LABEL_OWNER_UID]:
            raise ConfigMapTakenError(409, f"apply ConfigMap {namespace}/{name}", "it exists and is not ours")
        replacement = {
            **manifest,
            "metadata": {**meta, "resourceVersion": existing["metadata"]["resourceVersion"]},
        }
        self._rest.request("PUT", f"{_config_maps(namespace)}/{quote(name)}", body=replacement)

    def create_inference_service(self, manifest: dict[str, Any]) -> InferenceServiceObservation:
        namespace = manifest["metadata"]["namespace"]
        created = self._rest.request("POST", _isvcs(namespace), body=manifest, ok_conflict=True)
        if created is None:
            return self.update_inference_service(manifest)
        return observe_inference_service(created)

    def update_inference_service(self, manifest: dict[str, Any]) -> InferenceServiceObservation:
        """Merge-patch labels, annotations and the whole predictor (lists are replaced)."""
        meta = manifest["metadata"]
        patch = {
            "metadata": {"labels": meta["labels"], "annotations": meta["annotations"]},
            "spec": manifest["spec"],
        }
        updated = self._rest.request(
            "PATCH",
            f"{_isvcs(meta['namespace'])}/{quote(meta['name'])}",
            body=patch,
            content_type=MERGE_PATCH,
        )
        return observe_inference_service(updated or manifest)

    def delete_inference_service(self, namespace: str, name: str) -> None:
        self._rest.request("DELETE", f"{_isvcs(namespace)}/{quote(name)}", ok_missing=True)

    def predictor_rollout(self, namespace: str, isvc: InferenceServiceObservation) -> RolloutObservation:
        """Read the predictor Deployment KServe made (its name, its label naming the InferenceService;
        a Deployment of that name that is not KServe's for it counts as missing)."""
        name = predictor_deployment_name(isvc.name)
        found = self._rest.request("GET", f"{_deployments(namespace)}/{quote(name)}", ok_missing=True)
        labels = ((found or {}).get("metadata") or {}).get("labels") or {}
        if found is None or labels.get(LABEL_KSERVE_ISVC) != isvc.name:
            return missing_predictor(isvc)
        return observe_rollout(found)

    def patch_status(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> None:
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{quote(namespace)}/{PLURALS[kind]}/{quote(name)}/status"
        self._rest.request("PATCH", path, body={"status": patch}, content_type=MERGE_PATCH)

    def delete_owned(self, namespace: str, owner_uid: str) -> list[str]:
        """Delete every Job, InferenceService and ConfigMap labelled with this owner.

        Their owner references are what removes them on a cluster (the garbage collector); this does
        that work a little earlier when the operator sees the delete.
        """
        selector = {"labelSelector": f"{LABEL_OWNER_UID}={owner_uid}"}
        deleted: list[str] = []
        jobs = self._rest.request("GET", _jobs(namespace), params=selector)
        for job in (jobs or {}).get("items") or []:
            self.delete_job(namespace, job["metadata"]["name"])
            deleted.append(f"Job/{job['metadata']['name']}")
        isvcs = self._rest.request("GET", _isvcs(namespace), params=selector, ok_missing=True)
        for isvc in (isvcs or {}).get("items") or []:
            self.delete_inference_service(namespace, isvc["metadata"]["name"])
            deleted.append(f"InferenceService/{isvc['metadata']['name']}")
        config_maps = self._rest.request("GET", _config_maps(namespace), params=selector)
        for config_map in (config_maps or {}).get("items") or []:
            name = config_map["metadata"]["name"]
            self._rest.request("DELETE", f"{_config_maps(namespace)}/{quote(name)}", ok_missing=True)
            deleted.append(f"ConfigMap/{name}")
        return deleted
