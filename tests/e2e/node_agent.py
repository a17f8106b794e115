"""The node agent: a kubelet stand-in, the one simulated part of the test cluster with real controllers.

Why it exists: with `stockops-testenv --controllers` the real kube-controller-manager (Job controller,
garbage collector, namespace, Deployment/ReplicaSet, EndpointSlice, ServiceAccount controllers) and the
real kube-scheduler run against the real API server. What they cannot have here is a kubelet: no
container runtime runs on this machine. This agent is that part only, and it stays small on purpose:

- it registers Node objects (`NODES`: a CPU node, and a GPU node with `nvidia.com/gpu` capacity and the
  `nvidia.com/gpu:NoSchedule` taint), posts their Ready status and renews their Leases in
  `kube-node-lease`, so the node lifecycle controller sees healthy nodes, exactly as it sees kubelets;
- it watches Pods the scheduler bound to those nodes and runs each container as a local process group:
  the image must map to one of our entrypoints (`IMAGE_ENTRYPOINTS`; any other image is `ErrImagePull`
  then `ImagePullBackOff`, and nothing runs), `command`/`args` with `$(VAR)` expansion, `env`,
  `envFrom` and `valueFrom` (Secrets, ConfigMaps, fieldRefs), `workingDir`, init containers in order;
- volumes are local directories: emptyDir, Secret, ConfigMap and projected (service-account token by
  the TokenRequest API, `kube-root-ca.crt`, downward API namespace) sources. A process cannot see a
  mount path, so a container's env values, args and workingDir under a mount path are rewritten to the
  volume's directory, and `STOCKOPS_TERMINATION_LOG` names the file that stands for its
  terminationMessagePath;
- each pod gets its own loopback address (127.1.0.0/16) as `status.podIP`, so containers can bind their
  declared ports without clashing and Services resolve through the real EndpointSlice controller;
- it reports status like a kubelet (phase, container states with exit code, reason and termination
  message, restartCount, the Initialized/ContainersReady/Ready conditions), restarts containers as
  `restartPolicy` says with the kubelet's back-off (10 s doubling to 5 min), runs **declared** probes
  only (httpGet, tcpSocket, exec; no readiness probe means Ready once started), and stops a deleted pod
  with its grace period before removing it.

Given an OCI runtime (`oci=`, oci_runtime.py) it registers a third node, `stockops-oci` (label and
taint `stockops.io/runtime=oci`), whose pods run as containers with podman from images in podman's
store, with their security context as run flags and their volumes bind-mounted: the place where
images, non-root users, read-only roots and dropped capabilities are enforced, not just admitted.

What it does not do: on the process nodes, isolation (no namespaces, cgroups or image filesystems:
processes share this machine) and any check of the image beyond its name; on every node, resource
limits and `kubectl logs` (`NodeAgent.log_path` names each container's log file).

Use: `NodeAgent(api_client, work_dir=...).start()` ... `.stop()`.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import ipaddress
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.rest import ApiException

log = logging.getLogger("stockops.e2e.node_agent")


def _sibling(name: str, file_name: str) -> ModuleType:
    # A script beside this one (pod_runtime.py, oci_runtime.py), loaded by path like every script beside
    # conftest.py, and registered so that its dataclasses resolve their module; once per process.
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(file_name))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_rt = _sibling("stockops_e2e_pod_runtime", "pod_runtime.py")  # container rules and API plumbing
_oci = _sibling("stockops_e2e_oci_runtime", "oci_runtime.py")  # the OCI node's podman runs
IMAGE_ENTRYPOINTS: Mapping[str, tuple[str, ...]] = _rt.IMAGE_ENTRYPOINTS
GPU_RESOURCE = "nvidia.com/gpu"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_S = 40
HEARTBEAT_S = 10.0
BACKOFF_INITIAL_S, BACKOFF_MAX_S = 10.0, 300.0  # the kubelet's container restart back-off
POD_NETWORK = ipaddress.ip_network("127.1.0.0/16")
HOST_IP = "127.0.0.1"
DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log"
DELETE_GRACE_CAP_S = 10.0  # tests do not wait a production grace period for a process to exit


@dataclass(frozen=True)
class NodeSpec:
    """One fake node: what the scheduler sees of it."""

    name: str
    labels: Mapping[str, str]
    capacity: Mapping[str, str]
    taints: tuple[Mapping[str, str], ...] = ()
    runtime: str = "process"  # "process": local processes; "oci": podman, from built images


NODES: tuple[NodeSpec, ...] = (
    NodeSpec(
        name="stockops-cpu",
        labels={"node.kubernetes.io/instance-type": "test-cpu"},
        capacity={"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"},
    ),
    NodeSpec(
        name="stockops-gpu",
        labels={"node.kubernetes.io/instance-type": "test-gpu"},
        capacity={
            "cpu": "16",
            "memory": "64Gi",
            "pods": "110",
            "ephemeral-storage": "100Gi",
            GPU_RESOURCE: "2",
        },
        taints=({"key": GPU_RESOURCE, "effect": "NoSchedule"},),
    ),
)
# Added when the agent is given an OCI runtime: pods that select it (and tolerate its taint) run from
# the built images with podman (oci_runtime.py), under their security context.
OCI_NODE = NodeSpec(
    name="stockops-oci",
    labels={"node.kubernetes.io/instance-type": "test-oci", _oci.RUNTIME_LABEL: "oci"},
    capacity={"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"},
    taints=({"key": _oci.RUNTIME_LABEL, "value": "oci", "effect": "NoSchedule"},),
    runtime="oci",
)


# ---------------------------------------------------------------------------------------------------
# Pure parts: node objects, status shapes, path mapping. No I/O.
# ---------------------------------------------------------------------------------------------------


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_object(spec: NodeSpec) -> dict[str, Any]:
    labels = {
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        **spec.labels,
    }
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels},
        "spec": {},
    }
    if spec.taints:
        body["spec"]["taints"] = [dict(t) for t in spec.taints]
    return body


def node_status(spec: NodeSpec, started: str) -> dict[str, Any]:
    """A healthy kubelet's report: Ready, no pressure, its capacity all allocatable."""
    now = now_rfc3339()

    def condition(ctype: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {
            "type": ctype,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": started,
        }

    return {
        "capacity": dict(spec.capacity),
        "allocatable": dict(spec.capacity),
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "node agent: no pressure"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "node agent: no pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "node agent: no pressure"),
            condition("Ready", "True", "KubeletReady", "stockops e2e node agent is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": "127.0.0.1"},
            {"type": "Hostname", "address": spec.name},
        ],
        "nodeInfo": {
            "architecture": "amd64",
            "operatingSystem": "linux",
            "kubeletVersion": "v0.0.0-stockops-node-agent",
            "kubeProxyVersion": "",
            "containerRuntimeVersion": "local-process://0",
            "kernelVersion": os.uname().release,
            "osImage": "StockOps e2e node agent",
            "bootID": "",
            "machineID": "",
            "systemUUID": "",
        },
    }


def lease_object(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": LEASE_NAMESPACE},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_S, "renewTime": now_micro()},
    }


def mapped_path(value: str, mounts: Sequence[tuple[str, Path]]) -> str:
    """`value` with a leading mount path replaced by its local directory (the longest mount wins)."""
    for mount_path, local in sorted(mounts, key=lambda m: len(m[0]), reverse=True):
        root = mount_path.rstrip("/")
        if value == root or value.startswith(root + "/"):
            return str(local) + value[len(root) :]
    return value


def restart_backoff(restarts: int) -> float:
    return min(BACKOFF_INITIAL_S * (2 ** max(restarts - 1, 0)), BACKOFF_MAX_S)


def terminated_state(exit_code: int, message: str, started_at: str, reason: str = "") -> dict[str, Any]:
    state: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": reason or ("Completed" if exit_code == 0 else "Error"),
        "startedAt": started_at,
        "finishedAt": now_rfc3339(),
    }
    if message:
        state["message"] = message
    return {"terminated": state}


def pod_phase(restart_policy: str, exits: Sequence[int | None]) -> str:
    """The kubelet's phase rule for a pod whose containers all ran: None means still running."""
    if any(code is None for code in exits):
        return "Running"
    if all(code == 0 for code in exits):
        return "Succeeded" if restart_policy != "Always" else "Running"
    return "Failed" if restart_policy == "Never" else "Running"


# ---------------------------------------------------------------------------------------------------
# Probes.
# ---------------------------------------------------------------------------------------------------


def _probe_port(port: Any, container: Mapping[str, Any]) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"probe port {port!r} is not a port of container {container.get('name')!r}")


def run_probe(
    probe: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str, env: Mapping[str, str]
) -> tuple[bool, str]:
    """(success, message) of one probe attempt, with the kubelet's rules for each handler."""
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if "httpGet" in probe:
            spec = probe["httpGet"]
            if str(spec.get("scheme", "HTTP")).upper() != "HTTP":
                return False, "node agent probes speak HTTP only"
            host = spec.get("host") or pod_ip
            url = f"http://{host}:{_probe_port(spec['port'], container)}{spec.get('path', '/')}"
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    code = resp.status
            except urllib.error.HTTPError as exc:
                code = exc.code
            # The kubelet: 200 <= code < 400 is success.
            return 200 <= code < 400, f"HTTP probe failed with statuscode: {code}"
        if "tcpSocket" in probe:
            spec = probe["tcpSocket"]
            port = _probe_port(spec["port"], container)
            with socket.create_connection((spec.get("host") or pod_ip, port), timeout=timeout):
                return True, ""
        if "exec" in probe:
            command = [str(c) for c in probe["exec"].get("command") or []]
            result = subprocess.run(command, env=dict(env), capture_output=True, timeout=timeout, check=False)
            return result.returncode == 0, (result.stdout + result.stderr).decode(errors="replace")[-512:]
        return False, f"probe handler {sorted(probe)} is not supported by the node agent"
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)


@dataclass
class ProbeState:
    """Consecutive results of one probe, for its thresholds."""

    probe: Mapping[str, Any]
    successes: int = 0
    failures: int = 0
    next_at: float = 0.0
    result: bool = False

    def record(self, ok: bool) -> None:
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= int(self.probe.get("successThreshold", 1)):
                self.result = True
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.failures >= int(self.probe.get("failureThreshold", 3)):
                self.result = False

    @property
    def failed_out(self) -> bool:
        return self.failures >= int(self.probe.get("failureThreshold", 3))


# ---------------------------------------------------------------------------------------------------
# One pod.
# ---------------------------------------------------------------------------------------------------


class ImageNotMappedError(Exception):
    """The image names none of our entrypoints: a kubelet could not pull it, so nothing runs."""


@dataclass
class Container:
    """One container of a pod while it runs: its process, probes and status fields."""

    spec: Mapping[str, Any]
    log: Path
    termination_log: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: str = ""
    restarts: int = 0
    last_state: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    exit_code: int | None = None
    ready: bool = False
    readiness: ProbeState | None = None
    liveness: ProbeState | None = None
    restart_at: float = 0.0

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "image": str(self.spec.get("image", "")),
            "imageID": "",
            "ready": self.ready,
            "restartCount": self.restarts,
            "started": "running" in self.state,
            "state": self.state,
        }
        if self.last_state:
            out["lastState"] = self.last_state
        return out


class PodWorker(threading.Thread):
    """Runs one bound pod to its end (or its deletion), writing its status as a kubelet would."""

    def __init__(self, agent: NodeAgent, pod: dict[str, Any], pod_ip: str) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.agent = agent
        self.pod = pod
        self.pod_ip = pod_ip
        node = next(n for n in agent.nodes if n.name == pod["spec"].get("nodeName"))
        self.oci = agent.oci if node.runtime == "oci" else None
        self.deleting = threading.Event()
        self.gone = threading.Event()  # deleted from the API: nothing left to report
        self.grace_s = DELETE_GRACE_CAP_S
        self.root = agent.work_dir / "pods" / meta["namespace"] / f"{meta['name']}-{meta['uid'][:8]}"
        self.containers: list[Container] = []
        self.init_statuses: list[dict[str, Any]] = []
        self._conditions: dict[str, tuple[str, str]] = {}

    @property
    def ns(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    @property
    def pod_name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def path(self) -> str:
        return f"/api/v1/namespaces/{self.ns}/pods/{self.pod_name}"

    def _oci_name(self, container: str) -> str:
        return str(_oci.container_name(self.ns, self.pod_name, container, self.pod["metadata"]["uid"]))

    @property
    def placed_pod(self) -> dict[str, Any]:
        """The pod with the addresses this node gave it, which the downward API hands to containers
        (the pod as bound has none yet)."""
        status = {**(self.pod.get("status") or {}), "hostIP": HOST_IP, "podIP": self.pod_ip}
        return {**self.pod, "status": status}

    def delete_requested(self, grace_s: float | None) -> None:
        if grace_s is not None:
            self.grace_s = min(float(grace_s), DELETE_GRACE_CAP_S)
        self.deleting.set()

    # -- status ---------------------------------------------------------------------------------------

    def _condition(self, ctype: str, ok: bool, previous: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
        status = "True" if ok else "False"
        old = previous.get(ctype)
        since = old[1] if old and old[0] == status else now_rfc3339()
        self._conditions[ctype] = (status, since)
        return {"type": ctype, "status": status, "lastProbeTime": None, "lastTransitionTime": since}

    def write_status(self, phase: str, message: str = "", reason: str = "") -> None:
        previous = dict(self._conditions)
        initialized = not self.pod["spec"].get("initContainers") or (
            len(self.init_statuses) == len(self.pod["spec"].get("initContainers") or [])
            and all("terminated" in s["state"] for s in self.init_statuses)
        )
        ready = phase == "Running" and bool(self.containers) and all(c.ready for c in self.containers)
        conditions = [
            self._condition("PodReadyToStartContainers", True, previous),
            self._condition("Initialized", initialized, previous),
            self._condition("ContainersReady", ready, previous),
            self._condition("Ready", ready, previous),
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": None},
        ]
        scheduled = next(
            (
                c
                for c in (self.pod.get("status") or {}).get("conditions") or []
                if c["type"] == "PodScheduled"
            ),
            None,
        )
        if scheduled:
            conditions[-1] = scheduled
        statuses = [c.status() for c in self.containers] or [
            {
                "name": c["name"],
                "image": str(c.get("image", "")),
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "state": {"waiting": {"reason": "PodInitializing"}},
            }
            for c in self.pod["spec"]["containers"]
        ]
        status: dict[str, Any] = {
            "phase": phase,
            "conditions": conditions,
            "hostIP": HOST_IP,
            "hostIPs": [{"ip": HOST_IP}],
            "podIP": self.pod_ip,
            "podIPs": [{"ip": self.pod_ip}],
            "startTime": (self.pod.get("status") or {}).get("startTime") or now_rfc3339(),
            "containerStatuses": statuses,
        }
        if self.init_statuses:
            status["initContainerStatuses"] = self.init_statuses
        if message:
            status["message"] = message
        if reason:
            status["reason"] = reason
        try:
            self.pod = self.agent.rest.request(
                "PATCH",
                self.path + "/status",
                body={"status": status},
                content_type="application/merge-patch+json",
            )
        except ApiException as exc:
            if exc.status == 404:
                self.gone.set()
                return
            raise

    # -- setup ----------------------------------------------------------------------------------------

    def _volumes(self) -> dict[str, Path]:
        """Each volume as a local directory, filled like the kubelet fills it; raises a message that
        says what is missing (the kubelet keeps such a pod in ContainerCreating and retries)."""
        out: dict[str, Path] = {}
        rest = self.agent.rest
        for volume in self.pod["spec"].get("volumes") or []:
            local = self.root / "volumes" / volume["name"]
            local.mkdir(parents=True, exist_ok=True)
            out[volume["name"]] = local
            sources: list[tuple[str, Mapping[str, Any]]] = []
            if "secret" in volume:
                sources.append(("secret", volume["secret"]))
            elif "configMap" in volume:
                sources.append(("configMap", volume["configMap"]))
            elif "projected" in volume:
                sources.extend((k, v) for s in volume["projected"].get("sources") or [] for k, v in s.items())
            elif "emptyDir" not in volume:
                raise RuntimeError(
                    f"volume {volume['name']!r}: only emptyDir, secret, configMap and projected"
                )
            for kind, src in sources:
                files: dict[str, bytes] = {}
                if kind in ("secret", "configMap"):
                    name = src.get("secretName") or src.get("name")
                    collection = "secrets" if kind == "secret" else "configmaps"
                    obj = rest.get_or_none(f"/api/v1/namespaces/{self.ns}/{collection}/{name}")
                    if obj is None:
                        if src.get("optional"):
                            continue
                        raise RuntimeError(
                            f'MountVolume.SetUp failed for volume "{volume["name"]}": '
                            f'{kind} "{name}" not found'
                        )
                    # A Secret's data is base64; a ConfigMap's is text (binaryData is base64).
                    raw = obj.get("data") or {}
                    if kind == "secret":
                        data = {k: base64.b64decode(v) for k, v in raw.items()}
                    else:
                        data = {k: str(v).encode() for k, v in raw.items()}
                        data |= {k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()}
                    items = src.get("items")
                    files = {i["path"]: data[i["key"]] for i in items if i["key"] in data} if items else data
                elif kind == "serviceAccountToken":
                    account = self.pod["spec"].get("serviceAccountName") or "default"
                    token = rest.request(
                        "POST",
                        f"/api/v1/namespaces/{self.ns}/serviceaccounts/{account}/token",
                        body={
                            "apiVersion": "authentication.k8s.io/v1",
                            "kind": "TokenRequest",
                            "spec": {
                                "audiences": [src["audience"]] if src.get("audience") else None,
                                "expirationSeconds": int(src.get("expirationSeconds", 3600)),
                                "boundObjectRef": {
                                    "apiVersion": "v1",
                                    "kind": "Pod",
                                    "name": self.pod_name,
                                    "uid": self.pod["metadata"]["uid"],
                                },
                            },
                        },
                    )
                    files = {src["path"]: token["status"]["token"].encode()}
                elif kind == "downwardAPI":
                    for item in src.get("items") or []:
                        ref = item.get("fieldRef", {}).get("fieldPath", "")
                        files[item["path"]] = _rt.field_ref_value(self.placed_pod, ref).encode()
                for rel, content in files.items():
                    target = local / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(content)
        return out

    def _prepare(
        self, spec: Mapping[str, Any], volumes: Mapping[str, Path]
    ) -> tuple[list[str], dict[str, str], str | None, Container]:
        """argv, env and working dir of one container; raises ImageNotMappedError or RuntimeError."""
        if self.oci is not None:
            return self._prepare_oci(spec, volumes)
        name = str(spec["name"])
        if _rt.image_entrypoint(str(spec.get("image", "")), self.agent.entrypoints) is None:
            raise ImageNotMappedError(
                f'Failed to pull image "{spec.get("image")}": the node agent maps only '
                f"{sorted(self.agent.entrypoints)} to local entrypoints"
            )
        sandbox = _rt.Sandbox(self.root / "sandbox" / name).create()
        container = Container(
            spec=spec, log=sandbox.log, termination_log=self.root / f"{name}.termination-log"
        )
        mounts: list[tuple[str, Path]] = []
        for mount in spec.get("volumeMounts") or []:
            if mount["name"] not in volumes:
                raise RuntimeError(f"volumeMount {mount['name']!r} names no volume of the pod")
            mounts.append((mount["mountPath"], volumes[mount["name"]] / mount.get("subPath", "")))
        try:
            env = {
                **self.agent.launcher.base_env(sandbox, self.pod_name),
                **self.agent.launcher.resolve_env(self.placed_pod, spec),
            }
        except _rt.ContainerError as exc:
            raise RuntimeError(str(exc)) from exc
        env = {k: mapped_path(v, mounts) for k, v in env.items()}
        env["STOCKOPS_TERMINATION_LOG"] = str(container.termination_log)
        argv = [
            mapped_path(a, mounts)
            for a in _rt.local_argv(spec, env, self.agent.python, self.agent.entrypoints)
        ]
        working_dir = spec.get("workingDir")
        return argv, env, mapped_path(working_dir, mounts) if working_dir else None, container

    def _prepare_oci(
        self, spec: Mapping[str, Any], volumes: Mapping[str, Path]
    ) -> tuple[list[str], dict[str, str], str | None, Container]:
        """The `podman run` of one container: the image from the store, its env resolved as the
        kubelet does, the volumes bind-mounted at their mount paths (oci_runtime.py)."""
        name, image = str(spec["name"]), str(spec.get("image", ""))
        image_user = self.oci.image_user(image)
        if image_user is None:
            raise ImageNotMappedError(
                f'Failed to pull image "{image}": not in the OCI node\'s image store (nothing is pulled '
                "here; scripts/build-images.sh builds ours)"
            )
        sandbox = _rt.Sandbox(self.root / "sandbox" / name).create()
        container = Container(
            spec=spec, log=sandbox.log, termination_log=self.root / f"{name}.termination-log"
        )
        try:
            env = {**self.agent.extra_env, **self.agent.launcher.resolve_env(self.placed_pod, spec)}
            security = _oci.security_flags(
                self.pod["spec"].get("securityContext") or {}, spec.get("securityContext") or {}, image_user
            )
        except (_rt.ContainerError, _oci.ContainerConfigError) as exc:
            raise RuntimeError(str(exc)) from exc
        mounts: list[tuple[str, str, bool]] = []
        for mount in spec.get("volumeMounts") or []:
            if mount["name"] not in volumes:
                raise RuntimeError(f"volumeMount {mount['name']!r} names no volume of the pod")
            local = volumes[mount["name"]] / mount.get("subPath", "")
            mounts.append((mount["mountPath"], str(local), bool(mount.get("readOnly"))))
        for local in volumes.values():  # the kubelet's volume permissions: any uid of the pod may use them
            local.chmod(0o777)
            for path in local.rglob("*"):
                path.chmod(0o777 if path.is_dir() else 0o644)
        target = str(spec.get("terminationMessagePath") or DEFAULT_TERMINATION_MESSAGE_PATH)
        mounts.append((target, str(container.termination_log), False))
        argv = _oci.run_argv(
            self.oci.podman,
            self._oci_name(name),
            image,
            command=[_rt.expand_vars(str(c), env) for c in spec.get("command") or []],
            args=[_rt.expand_vars(str(a), env) for a in spec.get("args") or []],
            env=env,
            mounts=mounts,
            security=security,
            working_dir=spec.get("workingDir"),
        )
        return argv, dict(self.oci.client_env), None, container

    def _spawn(
        self, container: Container, argv: list[str], env: dict[str, str], working_dir: str | None
    ) -> None:
        container.termination_log.unlink(missing_ok=True)
        if self.oci is not None:  # bind-mounted into the container: it must exist, writable by its uid
            container.termination_log.touch()
            container.termination_log.chmod(0o666)
        sandbox = _rt.Sandbox(self.root / "sandbox" / container.name)
        container.process = self.agent.launcher.spawn(argv, env, sandbox, working_dir)
        container.started_at = now_rfc3339()
        container.state = {"running": {"startedAt": container.started_at}}
        container.exit_code = None
        probe = container.spec.get("readinessProbe")
        container.readiness = (
            ProbeState(probe, next_at=time.time() + float(probe.get("initialDelaySeconds", 0)))
            if probe
            else None
        )
        container.ready = probe is None
        live = container.spec.get("livenessProbe")
        container.liveness = (
            ProbeState(live, next_at=time.time() + float(live.get("initialDelaySeconds", 0)))
            if live
            else None
        )
        self.agent.event(self.pod, "Normal", "Started", f"Started container {container.name}")
        log.info(
            "pod %s/%s: container %s runs %s (pid %d)",
            self.ns,
            self.pod_name,
            container.name,
            " ".join(argv),
            container.process.pid,
        )

    def _finish_container(self, container: Container, reason: str = "") -> int:
        assert container.process is not None
        code = _rt.terminate_group(container.process, self.grace_s)
        if self.oci is not None:
            self.oci.remove(self._oci_name(container.name))
        policy = str(container.spec.get("terminationMessagePolicy", "File"))
        message = _rt.read_termination_message(container.termination_log, container.log, policy, code)
        container.state = terminated_state(code, message, container.started_at, reason)
        container.exit_code = code
        container.ready = False
        container.process = None
        return code

    # -- the loop -------------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except Exception:
            log.exception("pod %s/%s: node agent failed", self.ns, self.pod_name)
        finally:
            for c in self.containers:
                if c.process is not None:
                    _rt.terminate_group(c.process, 1.0)
            if self.deleting.is_set() and not self.gone.is_set():
                # The kubelet's last word: containers are stopped, the object may go now.
                with contextlib.suppress(ApiException):
                    self.agent.rest.request(
                        "DELETE",
                        self.path,
                        body={"gracePeriodSeconds": 0, "preconditions": {"uid": self.pod["metadata"]["uid"]}},
                    )
            self.agent.pod_done(self)

    def _wait_or_deleted(self, seconds: float) -> bool:
        """Sleep; True when the pod is being deleted."""
        return self.deleting.wait(seconds)

    def _setup(self) -> list[tuple[list[str], dict[str, str], str | None, Container]] | None:
        """Volumes filled and containers prepared (init containers first), retried like the kubelet
        retries; None when the pod is deleted first."""
        pulled_backoff = 0
        last_message = ""
        while True:
            try:
                volumes = self._volumes()
                prepared = [self._prepare(c, volumes) for c in self.pod["spec"].get("initContainers") or []]
                prepared += [self._prepare(c, volumes) for c in self.pod["spec"]["containers"]]
                return prepared
            except ImageNotMappedError as exc:
                reason = "ErrImagePull" if pulled_backoff == 0 else "ImagePullBackOff"
                pulled_backoff += 1
                message = str(exc)
                if message != last_message or pulled_backoff <= 2:
                    self.agent.event(self.pod, "Warning", "Failed", message)
                self._waiting_status(reason, message)
            except (RuntimeError, ApiException) as exc:
                message = str(exc) if not isinstance(exc, ApiException) else _rt._api_message(exc)
                if message != last_message:
                    self.agent.event(
                        self.pod, "Warning", "FailedMount" if "Mount" in message else "Failed", message
                    )
                    self._waiting_status("CreateContainerConfigError", message)
            last_message = message
            if self._wait_or_deleted(min(2.0 * max(pulled_backoff, 1), 10.0)):
                return None

    def _waiting_status(self, reason: str, message: str) -> None:
        self.containers = [
            Container(
                spec=c,
                log=self.root / "unused",
                termination_log=self.root / "unused",
                state={"waiting": {"reason": reason, "message": message}},
            )
            for c in self.pod["spec"]["containers"]
        ]
        self.write_status("Pending")

    def _run(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.write_status("Pending")
        prepared = self._setup()
        if prepared is None or self.gone.is_set():
            return
        restart_policy = str(self.pod["spec"].get("restartPolicy", "Always"))
        n_init = len(self.pod["spec"].get("initContainers") or [])
        init, main = prepared[:n_init], prepared[n_init:]
        self.containers = []
        for argv, env, working_dir, container in init:
            self.write_status("Pending")
            while True:
                self._spawn(container, argv, env, working_dir)
                while container.process is not None and container.process.poll() is None:
                    if self._wait_or_deleted(0.2):
                        self._finish_container(container)
                        return
                code = self._finish_container(container)
                self.init_statuses.append(container.status())
                if code == 0:
                    break
                if restart_policy == "Never":
                    self.write_status("Failed")
                    return
                self.init_statuses.pop()
                container.restarts += 1
                if self._wait_or_deleted(restart_backoff(container.restarts)):
                    return
        self.containers = [c for _, _, _, c in main]
        for argv, env, working_dir, container in main:
            self._spawn(container, argv, env, working_dir)
        self.write_status("Running")
        self._supervise(restart_policy, {c.name: (argv, env, wd) for argv, env, wd, c in main})

    def _supervise(
        self, restart_policy: str, launch: Mapping[str, tuple[list[str], dict[str, str], str | None]]
    ) -> None:
        while not self.gone.is_set():
            changed = False
            if self.deleting.is_set():
                self.agent.event(
                    self.pod, "Normal", "Killing", "Stopping containers: the pod is being deleted"
                )
                for c in self.containers:
                    if c.process is not None:
                        self._finish_container(c)
                # Since 1.27 the kubelet gives a deleted pod a terminal phase before it goes.
                with contextlib.suppress(ApiException):
                    self.write_status(pod_phase("Never", [c.exit_code for c in self.containers]))
                return
            now = time.time()
            for c in self.containers:
                if c.process is not None and c.process.poll() is not None:
                    self._finish_container(c)
                    changed = True
                    if restart_policy == "Always" or (restart_policy == "OnFailure" and c.exit_code != 0):
                        c.last_state, c.restarts = c.state, c.restarts + 1
                        c.restart_at = now + restart_backoff(c.restarts)
                        c.state = {
                            "waiting": {
                                "reason": "CrashLoopBackOff",
                                "message": f"back-off restarting failed container {c.name}",
                            }
                        }
                        c.exit_code = None
                elif c.process is None and c.exit_code is None and c.restart_at and now >= c.restart_at:
                    c.restart_at = 0.0
                    self._spawn(c, *launch[c.name])
                    changed = True
                elif c.process is not None:
                    changed |= self._probe(c, now, launch[c.name][1])
            exits = [c.exit_code for c in self.containers]
            phase = pod_phase(restart_policy, exits)
            if changed or phase != "Running":
                self.write_status(phase)
            if phase in ("Succeeded", "Failed"):
                return
            self._wait_or_deleted(0.2)

    def _probe(self, c: Container, now: float, env: Mapping[str, str]) -> bool:
        changed = False
        for kind, state in (("Readiness", c.readiness), ("Liveness", c.liveness)):
            if state is None or now < state.next_at:
                continue
            state.next_at = now + float(state.probe.get("periodSeconds", 10))
            probe = state.probe
            if self.oci is not None and "exec" in probe:  # an exec probe runs inside the container
                command = [
                    self.oci.podman,
                    "exec",
                    self._oci_name(c.name),
                    *(probe["exec"].get("command") or []),
                ]
                probe = {**probe, "exec": {"command": command}}
            ok, message = run_probe(probe, c.spec, self.pod_ip, env)
            state.record(ok)
            if not ok:
                self.agent.event(self.pod, "Warning", "Unhealthy", f"{kind} probe failed: {message}")
            if kind == "Readiness" and c.ready != state.result:
                c.ready = state.result
                changed = True
            if kind == "Liveness" and state.failed_out:
                self.agent.event(
                    self.pod,
                    "Normal",
                    "Killing",
                    f"Container {c.name} failed liveness probe, will be restarted",
                )
                assert c.process is not None
                _rt.terminate_group(c.process, self.grace_s)  # the loop sees the exit and restarts it
                state.failures = 0
        return changed


# ---------------------------------------------------------------------------------------------------
# The agent.
# ---------------------------------------------------------------------------------------------------


class NodeAgent:
    """Registers `nodes`, keeps them healthy and runs the pods bound to them, until stop()."""

    def __init__(
        self,
        api_client: k8s_client.ApiClient,
        *,
        work_dir: Path,
        nodes: Sequence[NodeSpec] = NODES,
        python: str = sys.executable,
        extra_env: Mapping[str, str] | None = None,
        entrypoints: Mapping[str, tuple[str, ...]] = IMAGE_ENTRYPOINTS,
        run_pods: bool = True,
        oci: Any = None,
    ) -> None:
        self.rest = _rt.Rest(api_client)
        self.work_dir = work_dir
        self.oci = oci  # an oci_runtime.OciRuntime: the OCI node is registered and runs with it
        self.nodes = tuple(nodes) + ((OCI_NODE,) if oci is not None and OCI_NODE not in nodes else ())
        self.python = python
        self.entrypoints = entrypoints
        self.run_pods = run_pods
        self.launcher = _rt.Launcher(self.rest, work_dir, python, dict(extra_env or {}), entrypoints)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pods: dict[str, PodWorker] = {}
        self._done: dict[str, PodWorker] = {}
        self._ips = (str(ip) for ip in POD_NETWORK.hosts())
        self._free_ips: list[str] = []
        self._threads: list[threading.Thread] = []
        self._informer: Any = None
        self._started = now_rfc3339()

    @property
    def extra_env(self) -> dict[str, str]:
        env = self.launcher.extra_env
        assert isinstance(env, dict)
        return env

    def start(self, timeout: float = 60.0) -> NodeAgent:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        for spec in self.nodes:
            self._register(spec)
        heartbeat = threading.Thread(target=self._heartbeat, name="node-heartbeat", daemon=True)
        heartbeat.start()
        self._threads.append(heartbeat)
        if self.run_pods:
            self._informer = _rt.Informer(self.rest, "/api/v1/pods", "", self._on_pod, self._stop, "pods")
            self._informer.start()
            self._threads.append(self._informer)
            if not self._informer.synced.wait(timeout):
                self.stop()
                raise RuntimeError(f"node agent: pods did not list within {timeout:.0f}s")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._informer is not None:
            self._informer.close()
        with self._lock:
            workers = list(self._pods.values())
        for worker in workers:
            worker.gone.set()  # the cluster outlives us or not: do not write status on the way out
            worker.delete_requested(1.0)
        for thread in [*workers, *self._threads]:
            thread.join(timeout=15)

    def __enter__(self) -> NodeAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_path(self, namespace: str, pod: str, container: str | None = None) -> Path | None:
        """The log file of a container of a pod this agent ran (first container by default)."""
        for worker in list(self._pods.values()) + list(self._done.values()):
            if worker.ns == namespace and worker.pod_name == pod:
                for c in worker.containers:
                    if container in (None, c.name):
                        return c.log
        return None

    # -- nodes -----------------------------------------------------------------------------------------

    def _register(self, spec: NodeSpec) -> None:
        try:
            self.rest.request("POST", "/api/v1/nodes", body=node_object(spec))
        except ApiException as exc:
            if exc.status != 409:
                raise
        self.rest.merge_patch(
            f"/api/v1/nodes/{spec.name}/status", {"status": node_status(spec, self._started)}
        )
        self._renew_lease(spec.name)

    def _renew_lease(self, name: str) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{name}"
        try:
            self.rest.merge_patch(path, {"spec": {"holderIdentity": name, "renewTime": now_micro()}})
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.rest.request("POST", path.rsplit("/", 1)[0], body=lease_object(name))

    def _heartbeat(self) -> None:
        beats = 0
        while not self._stop.wait(HEARTBEAT_S):
            beats += 1
            for spec in self.nodes:
                try:
                    self._renew_lease(spec.name)
                    if beats % 6 == 0:  # the kubelet posts full status about once a minute
                        self.rest.merge_patch(
                            f"/api/v1/nodes/{spec.name}/status", {"status": node_status(spec, self._started)}
                        )
                except Exception as exc:
                    log.warning("node %s: heartbeat failed (%s)", spec.name, exc)

    # -- pods ------------------------------------------------------------------------------------------

    def _on_pod(self, etype: str, pod: dict[str, Any]) -> None:
        if pod.get("spec", {}).get("nodeName") not in {n.name for n in self.nodes}:
            return
        uid = pod["metadata"]["uid"]
        with self._lock:
            worker = self._pods.get(uid)
            if etype == "DELETED":
                if worker is not None:
                    worker.gone.set()
                    worker.delete_requested(0.0)
                return
            if pod["metadata"].get("deletionTimestamp"):
                if worker is not None:
                    worker.delete_requested(pod["metadata"].get("deletionGracePeriodSeconds"))
                else:
                    # Nothing of it runs here (finished, or never started): nothing to stop.
                    with contextlib.suppress(ApiException):
                        self.rest.request(
                            "DELETE",
                            f"/api/v1/namespaces/{pod['metadata']['namespace']}/pods/{pod['metadata']['name']}",
                            body={"gracePeriodSeconds": 0, "preconditions": {"uid": uid}},
                        )
                return
            if worker is not None or uid in self._done or self._stop.is_set():
                return
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                return
            worker = PodWorker(self, pod, self._allocate_ip())
            self._pods[uid] = worker
            worker.start()

    def _allocate_ip(self) -> str:
        return self._free_ips.pop() if self._free_ips else next(self._ips)

    def pod_done(self, worker: PodWorker) -> None:
        with self._lock:
            uid = worker.pod["metadata"]["uid"]
            self._pods.pop(uid, None)
            self._done[uid] = worker
            if worker.gone.is_set() or worker.deleting.is_set():
                self._free_ips.append(worker.pod_ip)

    def event(self, pod: Mapping[str, Any], etype: str, reason: str, message: str) -> None:
        """Record an Event on the pod as the kubelet does; best effort."""
        meta = pod["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "reason": reason,
            "message": message[:1024],
            "type": etype,
            "source": {"component": "kubelet", "host": pod.get("spec", {}).get("nodeName", "")},
            "reportingComponent": "kubelet",
            "reportingInstance": pod.get("spec", {}).get("nodeName", ""),
            "firstTimestamp": now_rfc3339(),
            "lastTimestamp": now_rfc3339(),
            "count": 1,
        }
        with contextlib.suppress(ApiException):
            self.rest.request("POST", f"/api/v1/namespaces/{meta['namespace']}/events", body=body)
