"""The e2e executor: kubelet, Job controller, garbage collector and KServe stand-in for the test server.

Why it exists: the local test API server (tests/e2e/testenv) is the real kube-apiserver, but nothing
runs behind it: no scheduler, no kubelet, no kube-controller-manager, no KServe. On kind those run and
this file is not used. Locally, this process plays them, against the same API and with the same
observable contract, so the operator cannot tell the difference:

- Jobs labelled as ours (app.kubernetes.io/managed-by=stockops-operator): for each pod the Job
  controller would create, it creates the Pod object (owned by the Job, with the controller's labels),
  runs the first container's command as a local process with the container's env (literal values,
  Secret/ConfigMap refs, fieldRefs, envFrom, $(VAR) expansion), maps our image names to our local
  entrypoints, and writes pod status (Running, then terminated with exit code, reason and the
  termination message read from $STOCKOPS_TERMINATION_LOG) and Job status through the status
  subresource in the controller's order: startTime/active/ready, then succeeded or failed counts, then
  SuccessCriteriaMet + Complete (with completionTime) or FailureTarget + Failed with the controller's
  reasons (BackoffLimitExceeded, DeadlineExceeded, PodFailurePolicy). The real API server validates
  every one of those writes. backoffLimit, activeDeadlineSeconds, podFailurePolicy exit-code rules,
  completions (run one after another), suspend and ttlSecondsAfterFinished are honoured.
- Garbage collection: dependents whose owners are all gone are deleted (the test server runs with
  --enable-garbage-collector=false so deletes never wait for a collector that does not exist), and
  Terminating namespaces are emptied and finalized, as the namespace controller does.
- InferenceService (serving.kserve.io/v1beta1): installs a minimal CRD when the real one is absent and,
  per object, runs the predictor container locally on a free port, then sets status.url,
  status.address.url and the PredictorReady/IngressReady/Ready conditions; a crashed predictor is
  restarted with back-off and reported not Ready; deletion stops it.

Differences that remain, on purpose: processes share this machine's filesystem and network (no images,
no isolation), resource limits and node selection are recorded but not enforced, Pods of parallel
Jobs run one after another, there is no `kubectl logs` (each Pod carries the annotation
`stockops.io/executor-log` with the path of its log file).

Use: `python tests/e2e/executor.py --kubeconfig PATH` (the dev cluster does), or as a library:
`Executor(api_client, work_dir=...).start()` ... `.stop()` (the e2e fixture `executor` does).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException
from kubernetes.watch.watch import iter_resp_lines

log = logging.getLogger("stockops.e2e.executor")

MANAGED_BY_SELECTOR = "app.kubernetes.io/managed-by=stockops-operator"
NODE_NAME = "stockops-executor"
LOG_ANNOTATION = "stockops.io/executor-log"
# Our images' entrypoints, as the Dockerfiles under images/ and operator/ declare them.
IMAGE_ENTRYPOINTS: Mapping[str, tuple[str, ...]] = {
    "stockops/trainer": ("-m", "stockops.trainer"),
    "stockops/predictor": ("-m", "stockops.predictor"),
    "stockops/agent": ("-m", "stockops.agent"),
    "stockops/operator": ("-m", "stockops.operator"),
}
# What a container inherits from this process: enough to find programs and decode text, nothing that
# would make a test pass here and fail in a cluster.
INHERITED_ENV: tuple[str, ...] = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
TERMINATION_MESSAGE_LIMIT = 4096  # bytes, as the kubelet
FALLBACK_LOG_LINES = 80
FALLBACK_LOG_BYTES = 2048
ISVC_GROUP, ISVC_VERSION, ISVC_PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
ISVC_CRD_NAME = f"{ISVC_PLURAL}.{ISVC_GROUP}"
_WATCH_TIMEOUT_S = 20


class ExecutorError(RuntimeError):
    """A container cannot be run locally; the message is what the Pod status shows."""


# ---------------------------------------------------------------------------------------------------
# Pure parts: command, env, status. No I/O; each mirrors one rule of the kubelet or Job controller.
# ---------------------------------------------------------------------------------------------------


def _api_message(exc: ApiException) -> str:
    """The Status message the API server gave, as the Job controller quotes it in FailedCreate."""
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except ValueError:
        return str(exc.body or exc.reason)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_repository(image: str) -> str:
    """`registry:5000/stockops/trainer:1.2@sha256:..` -> `registry:5000/stockops/trainer`."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def image_entrypoint(image: str, entrypoints: Mapping[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    repo = image_repository(image)
    for known, entry in entrypoints.items():
        if repo == known or repo.endswith("/" + known):
            return entry
    return None


_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand_vars(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes $(VAR) expansion: defined names are replaced, `$$` escapes, unknown refs stay."""

    def repl(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _VAR_REF.sub(repl, value)


def local_argv(
    container: Mapping[str, Any],
    env: Mapping[str, str],
    python: str,
    entrypoints: Mapping[str, tuple[str, ...]] = IMAGE_ENTRYPOINTS,
) -> list[str]:
    """The argv a container would run, for this machine.

    `command` replaces the image entrypoint and `args` its CMD, as in Kubernetes. Without a command, our
    images map to their module entrypoint; other images cannot be run (we have no image to read the
    entrypoint from). A leading `python`/`python3` is this interpreter, so the package is importable.
    """
    command = [str(c) for c in container.get("command") or []]
    args = [str(a) for a in container.get("args") or []]
    if command:
        argv = command + args
    else:
        entry = image_entrypoint(str(container.get("image", "")), entrypoints)
        if entry is None:
            raise ExecutorError(
                f"image {container.get('image')!r} has no local mapping and container "
                f"{container.get('name')!r} sets no command; known images: {sorted(entrypoints)}"
            )
        argv = [python, *entry, *args]
    argv = [expand_vars(a, env) for a in argv]
    if re.fullmatch(r"(.*/)?python(3(\.\d+)?)?", argv[0]):
        argv[0] = python
    return argv


def field_ref_value(pod: Mapping[str, Any], path: str) -> str:
    """The downward API values a fieldRef may name (the subset the kubelet resolves)."""
    meta = pod.get("metadata", {})
    status = pod.get("status") or {}
    # The node and addresses the pod was given (the node agent gives each pod its own loopback
    # address); the executor's own pods run on one node at 127.0.0.1.
    host_ip = str(status.get("hostIP") or "127.0.0.1")
    pod_ip = str(status.get("podIP") or "127.0.0.1")
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod.get("spec", {}).get("nodeName") or NODE_NAME,
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName", "default"),
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
    }
    if path in simple:
        return str(simple[path])
    match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if match:
        return str(meta.get(match.group(1), {}).get(match.group(2), ""))
    raise ExecutorError(f"fieldRef {path!r} is not supported by the local executor")


def pod_failure_policy_action(
    job_spec: Mapping[str, Any], container_name: str, exit_code: int
) -> tuple[str, int]:
    """(action, rule index) of the first matching onExitCodes rule, or ("Count", -1) as the default."""
    rules = (job_spec.get("podFailurePolicy") or {}).get("rules") or []
    for index, rule in enumerate(rules):
        on_codes = rule.get("onExitCodes")
        if not on_codes:
            continue  # onPodConditions (DisruptionTarget ...) never happen here
        if on_codes.get("containerName") not in (None, container_name):
            continue
        values = set(on_codes.get("values") or [])
        operator = on_codes.get("operator")
        if (operator == "In" and exit_code in values) or (
            operator == "NotIn" and exit_code != 0 and exit_code not in values
        ):
            return str(rule.get("action", "Count")), index
    return "Count", -1


def with_condition(
    conditions: list[dict[str, Any]], ctype: str, reason: str, message: str, status: str = "True"
) -> list[dict[str, Any]]:
    """Conditions with `ctype` set; lastTransitionTime moves only when the status changes."""
    now = now_rfc3339()
    out = [dict(c) for c in conditions]
    for c in out:
        if c.get("type") == ctype:
            if c.get("status") != status:
                c["lastTransitionTime"] = now
            c.update(status=status, reason=reason, message=message, lastProbeTime=now)
            return out
    out.append(
        {
            "type": ctype,
            "status": status,
            "reason": reason,
            "message": message,
            "lastProbeTime": now,
            "lastTransitionTime": now,
        }
    )
    return out


def job_finished(job: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def read_termination_message(path: Path, log_path: Path, policy: str, exit_code: int) -> str:
    """What the kubelet puts in state.terminated.message: the file (4 KiB at most), else with
    FallbackToLogsOnError and a failure, the tail of the log."""
    message = ""
    with contextlib.suppress(OSError):
        message = path.read_bytes()[:TERMINATION_MESSAGE_LIMIT].decode(errors="replace")
    if not message.strip() and policy == "FallbackToLogsOnError" and exit_code != 0:
        with contextlib.suppress(OSError):
            lines = log_path.read_bytes().splitlines()[-FALLBACK_LOG_LINES:]
            message = b"\n".join(lines)[-FALLBACK_LOG_BYTES:].decode(errors="replace")
    return message


# ---------------------------------------------------------------------------------------------------
# API access: raw JSON over the kubernetes client's authenticated connection pool.
# ---------------------------------------------------------------------------------------------------


class Rest:
    """JSON requests to the API server, as plain dicts (the objects we handle are mostly foreign)."""

    def __init__(self, api_client: k8s_client.ApiClient) -> None:
        self.api_client = api_client

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Sequence[tuple[str, str]] = (),
        content_type: str = "application/json",
    ) -> Any:
        resp = self.send(method, path, body=body, query=query, content_type=content_type, timeout=(10, 60))
        data = resp.data
        return json.loads(data) if data else None

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Sequence[tuple[str, str]] = (),
        content_type: str = "application/json",
        timeout: tuple[float, float] = (10, 60),
    ) -> Any:
        """The raw urllib3 response (not yet read, so watches can stream); non-2xx raises ApiException."""
        request = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list(query),
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        resp = self.api_client.call_api(*request, _request_timeout=timeout)
        if not 200 <= resp.status <= 299:
            resp.read()
            raise ApiException.from_response(http_resp=resp, body=None, data=None)
        return resp.response

    def get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> Any:
        return self.request("GET", path, query=query)

    def get_or_none(self, path: str) -> Any:
        try:
            return self.get(path)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def delete(self, path: str, propagation: str = "Background") -> None:
        with contextlib.suppress(ApiException):
            self.request("DELETE", path, body={"propagationPolicy": propagation})

    def merge_patch(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.request("PATCH", path, body=body, content_type="application/merge-patch+json")

    def watch(
        self, path: str, resource_version: str, selector: str, on_response: Callable[[Any], None]
    ) -> Iterator[dict[str, Any]]:
        """Events of one watch request; `on_response` gets the live response, then None when done."""
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(_WATCH_TIMEOUT_S)),
        ]
        if selector:
            query.append(("labelSelector", selector))
        resp = self.send("GET", path, query=query, timeout=(10, _WATCH_TIMEOUT_S + 15))
        on_response(resp)
        try:
            for line in iter_resp_lines(resp):
                yield json.loads(line)
        finally:
            on_response(None)  # released to the pool: nobody may shut this socket down any more
            resp.release_conn()


def job_path(ns: str, name: str = "") -> str:
    base = f"/apis/batch/v1/namespaces/{ns}/jobs"
    return f"{base}/{name}" if name else base


def isvc_path(ns: str, name: str) -> str:
    return f"/apis/{ISVC_GROUP}/{ISVC_VERSION}/namespaces/{ns}/{ISVC_PLURAL}/{name}"


class Informer(threading.Thread):
    """List + watch one collection and call `handler(event_type, obj)`; relists after any break.

    Objects that vanish between a watch break and the next list are reported as DELETED, so the
    handler never keeps a process for an object it did not see go.
    """

    def __init__(
        self,
        rest: Rest,
        path: str,
        selector: str,
        handler: Callable[[str, dict[str, Any]], None],
        stop: threading.Event,
        name: str,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.rest, self.path, self.selector, self.handler, self.stop_event = (
            rest,
            path,
            selector,
            handler,
            stop,
        )
        self._response: Any = None
        self.synced = threading.Event()

    def close(self) -> None:
        """Interrupt a watch blocked in a read: shutting the socket down wakes the reading thread,
        where closing the response object alone would wait for the next event or the server timeout."""
        resp = self._response
        if resp is None:
            return
        with contextlib.suppress(Exception):
            sock = getattr(getattr(resp, "connection", None), "sock", None)
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            resp.close()

    def _set_response(self, resp: Any) -> None:
        self._response = resp

    def run(self) -> None:
        known: dict[str, dict[str, Any]] = {}
        while not self.stop_event.is_set():
            try:
                query = [("labelSelector", self.selector)] if self.selector else []
                listing = self.rest.get(self.path, query=query)
                rv = listing["metadata"]["resourceVersion"]
                current = {o["metadata"]["uid"]: o for o in listing.get("items") or []}
                for uid, obj in known.items():
                    if uid not in current:
                        self._dispatch("DELETED", obj)
                known = current
                for obj in current.values():
                    self._dispatch("SYNC", obj)
                self.synced.set()
                while not self.stop_event.is_set():
                    restart = True
                    for event in self.rest.watch(self.path, rv, self.selector, self._set_response):
                        etype, obj = event.get("type"), event.get("object") or {}
                        if etype == "ERROR":
                            break
                        rv = obj.get("metadata", {}).get("resourceVersion", rv)
                        if etype == "BOOKMARK":
                            continue
                        uid = obj["metadata"]["uid"]
                        if etype == "DELETED":
                            known.pop(uid, None)
                        else:
                            known[uid] = obj
                        self._dispatch(str(etype), obj)
                    else:
                        restart = False  # server-side timeout: resume from rv
                    if restart:
                        break
            except Exception as exc:
                if self.stop_event.is_set():
                    return
                if isinstance(exc, ApiException) and exc.status == 404:
                    log.debug("%s: not served yet", self.path)
                else:
                    log.warning("%s: watch interrupted (%s); relisting", self.path, exc)
                self.stop_event.wait(1.0)

    def _dispatch(self, etype: str, obj: dict[str, Any]) -> None:
        try:
            self.handler(etype, obj)
        except Exception:
            meta = obj.get("metadata", {})
            log.exception("handler failed for %s %s/%s", etype, meta.get("namespace"), meta.get("name"))


# ---------------------------------------------------------------------------------------------------
# Processes: the "kubelet" part.
# ---------------------------------------------------------------------------------------------------


@dataclass
class Sandbox:
    """A pod's private directory: HOME, TMPDIR, its log and its termination-message file."""

    root: Path

    @property
    def log(self) -> Path:
        return self.root / "container.log"

    @property
    def termination_log(self) -> Path:
        return self.root / "termination-log"

    def create(self) -> Sandbox:
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        return self


@dataclass
class Launcher:
    """Starts container processes with resolved env; shared by Jobs and InferenceServices."""

    rest: Rest
    work_dir: Path
    python: str
    extra_env: Mapping[str, str]
    entrypoints: Mapping[str, tuple[str, ...]]

    def resolve_env(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, str]:
        """The container's env as the kubelet builds it; raises ExecutorError for a missing ref."""
        ns = pod["metadata"]["namespace"]
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            for kind, ref in (
                ("configmaps", source.get("configMapRef")),
                ("secrets", source.get("secretRef")),
            ):
                if ref:
                    data = self._ref_data(ns, kind, ref["name"], bool(ref.get("optional")))
                    env.update({prefix + k: v for k, v in data.items()})
        for var in container.get("env") or []:
            name = var["name"]
            if "valueFrom" not in var:
                env[name] = expand_vars(str(var.get("value", "")), env)
                continue
            source = var["valueFrom"]
            if "fieldRef" in source:
                env[name] = field_ref_value(pod, source["fieldRef"]["fieldPath"])
            elif "configMapKeyRef" in source or "secretKeyRef" in source:
                kind = "configmaps" if "configMapKeyRef" in source else "secrets"
                ref = source.get("configMapKeyRef") or source.get("secretKeyRef")
                optional = bool(ref.get("optional"))
                data = self._ref_data(ns, kind, ref["name"], optional)
                if ref["key"] in data:
                    env[name] = data[ref["key"]]
                elif not optional:
                    kind_name = "ConfigMap" if kind == "configmaps" else "Secret"
                    raise ExecutorError(f"couldn't find key {ref['key']} in {kind_name} {ns}/{ref['name']}")
            elif "resourceFieldRef" in source:
                env[name] = "0"  # limits are not enforced locally; the value only has to exist
            else:
                raise ExecutorError(f"env {name}: unsupported valueFrom {sorted(source)}")
        return env

    def _ref_data(self, ns: str, kind: str, name: str, optional: bool) -> dict[str, str]:
        obj = self.rest.get_or_none(f"/api/v1/namespaces/{ns}/{kind}/{name}")
        if obj is None:
            if optional:
                return {}
            raise ExecutorError(f'{kind[:-1]} "{name}" not found')
        if kind == "secrets":
            import base64

            return {
                k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()
            }
        return dict(obj.get("data") or {})

    def base_env(self, sandbox: Sandbox, pod_name: str) -> dict[str, str]:
        env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
        bin_dir = str(Path(self.python).parent)
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "/usr/bin:/bin")
        env.update(
            HOME=str(sandbox.root), TMPDIR=str(sandbox.root / "tmp"), HOSTNAME=pod_name, PYTHONUNBUFFERED="1"
        )
        env.update(self.extra_env)
        return env

    def spawn(
        self, argv: list[str], env: Mapping[str, str], sandbox: Sandbox, working_dir: str | None
    ) -> subprocess.Popen[bytes]:
        cwd = working_dir if working_dir and Path(working_dir).is_dir() else str(sandbox.root)
        with sandbox.log.open("ab") as out:
            try:
                return subprocess.Popen(
                    argv,
                    env=dict(env),
                    cwd=cwd,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ExecutorError(f"cannot start {argv[0]!r}: {exc}") from exc


def terminate_group(process: subprocess.Popen[Any], grace: float) -> int:
    """SIGTERM the container's process group, SIGKILL after `grace` seconds; returns the exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    code = process.returncode
    return 128 - code if code < 0 else code  # -15 -> 143, as a shell or the kubelet reports it


# ---------------------------------------------------------------------------------------------------
# Jobs: kubelet + Job controller for one Job at a time per thread.
# ---------------------------------------------------------------------------------------------------


@dataclass
class PodOutcome:
    exit_code: int
    message: str
    deadline_exceeded: bool = False
    cancelled: bool = False
    created: bool = True


class JobRun(threading.Thread):
    """Runs one Job to its terminal state, writing Pod and Job status as the cluster would."""

    def __init__(self, executor: Executor, job: dict[str, Any]) -> None:
        meta = job["metadata"]
        super().__init__(name=f"job-{meta['namespace']}/{meta['name']}", daemon=True)
        self.executor = executor
        self.job = job
        self.cancel = threading.Event()
        self._last_pod = ""

    @property
    def ns(self) -> str:
        return str(self.job["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.job["metadata"]["name"])

    @property
    def uid(self) -> str:
        return str(self.job["metadata"]["uid"])

    def run(self) -> None:
        try:
            self._run()
        except _JobGoneError:
            log.info("job %s/%s: deleted while running", self.ns, self.name)
        except Exception:
            log.exception("job %s/%s: executor failure", self.ns, self.name)
        finally:
            self.executor._job_done(self.uid)

    # -- status writes ---------------------------------------------------------------------------

    def _update_status(self, mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Read-modify-write through the status subresource, retrying on conflicts, like the controller."""
        rest = self.executor.rest
        for _ in range(20):
            job = rest.get_or_none(job_path(self.ns, self.name))
            if job is None or job["metadata"]["uid"] != self.uid:
                raise _JobGoneError
            status = job.setdefault("status", {})
            mutate(status)
            try:
                self.job = rest.request("PUT", job_path(self.ns, self.name) + "/status", body=job)
                return self.job
            except ApiException as exc:
                if exc.status == 409:
                    continue
                if exc.status == 404:
                    raise _JobGoneError from exc
                raise
        raise RuntimeError(f"job {self.ns}/{self.name}: status update kept conflicting")

    def _finish(self, success: bool, reason: str, message: str, **counts: int) -> None:
        first, final = ("SuccessCriteriaMet", "Complete") if success else ("FailureTarget", "Failed")

        def mark_target(status: dict[str, Any]) -> None:
            status.update(counts)
            status["conditions"] = with_condition(status.get("conditions") or [], first, reason, message)

        def mark_final(status: dict[str, Any]) -> None:
            status.update(active=0, ready=0, terminating=0, uncountedTerminatedPods={})
            status["conditions"] = with_condition(status.get("conditions") or [], final, reason, message)
            if success:
                status["completionTime"] = now_rfc3339()

        self._update_status(mark_target)
        self._update_status(mark_final)
        self.executor.event(
            self.job, "Normal" if success else "Warning", "Completed" if success else reason, message
        )
        log.info("job %s/%s: %s (%s)", self.ns, self.name, final, reason)

    # -- the controller loop -------------------------------------------------------------------------

    def _run(self) -> None:
        spec = self.job["spec"]
        status = self.job.get("status") or {}
        completions = int(spec.get("completions", 1) if spec.get("completions") is not None else 1)
        backoff_limit = int(spec.get("backoffLimit", 6) if spec.get("backoffLimit") is not None else 6)
        deadline_s = spec.get("activeDeadlineSeconds")
        succeeded = int(status.get("succeeded") or 0)
        failed = int(status.get("failed") or 0) + self._fail_orphaned_pods()

        def start(st: dict[str, Any]) -> None:
            st.setdefault("startTime", now_rfc3339())
            st.update(
                active=0,
                ready=0,
                terminating=0,
                uncountedTerminatedPods={},
                failed=failed,
                succeeded=succeeded,
            )
            for key in ("failed", "succeeded"):
                if not st[key]:
                    st.pop(key)

        self._update_status(start)
        started = _parse_time(self.job["status"]["startTime"])
        deadline_at = started + float(deadline_s) if deadline_s is not None else None

        while succeeded < completions:
            if deadline_at is not None and time.time() >= deadline_at:
                self._finish(
                    False, "DeadlineExceeded", "Job was active longer than specified deadline", failed=failed
                )
                return
            outcome = self._run_pod(deadline_at)
            if outcome.cancelled:
                return
            if outcome.deadline_exceeded:
                failed += 1 if outcome.created else 0
                self._finish(
                    False, "DeadlineExceeded", "Job was active longer than specified deadline", failed=failed
                )
                return
            if outcome.exit_code == 0:
                succeeded += 1
                self._update_status(lambda st, n=succeeded: st.update(active=0, ready=0, succeeded=n))
                continue
            container = spec["template"]["spec"]["containers"][0]["name"]
            action, index = pod_failure_policy_action(spec, container, outcome.exit_code)
            if action == "Ignore":
                self._update_status(lambda st: st.update(active=0, ready=0))
                self._backoff(deadline_at)
                continue
            failed += 1
            if action == "FailJob":
                message = (
                    f"Container {container} for pod {self.ns}/{self._last_pod} failed with exit code "
                    f"{outcome.exit_code} matching FailJob rule at index {index}"
                )
                self._finish(False, "PodFailurePolicy", message, failed=failed)
                return
            self._update_status(lambda st, n=failed: st.update(active=0, ready=0, failed=n))
            if failed > backoff_limit:
                self._finish(
                    False,
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                    failed=failed,
                )
                return
            self._backoff(deadline_at)
        self._finish(
            True, "CompletionsReached", "Reached expected number of succeeded pods", succeeded=succeeded
        )
        self._ttl_after_finished()

    def _backoff(self, deadline_at: float | None) -> None:
        delay = self.executor.retry_backoff_s
        if deadline_at is not None:
            delay = max(0.0, min(delay, deadline_at - time.time()))
        if self.cancel.wait(delay):
            raise _JobGoneError

    def _ttl_after_finished(self) -> None:
        ttl = self.job["spec"].get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        if not self.cancel.wait(float(ttl)):
            log.info("job %s/%s: ttlSecondsAfterFinished=%s elapsed, deleting", self.ns, self.name, ttl)
            self.executor.rest.delete(job_path(self.ns, self.name))

    def _fail_orphaned_pods(self) -> int:
        """Pods left running by an executor that stopped: mark them failed, as a lost node's pods are."""
        rest = self.executor.rest
        pods = rest.get(
            f"/api/v1/namespaces/{self.ns}/pods",
            query=[("labelSelector", f"batch.kubernetes.io/controller-uid={self.uid}")],
        )
        count = 0
        for pod in pods.get("items") or []:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            self._write_pod_status(
                pod,
                "Failed",
                _terminated(137, "Error", "the executor running this pod stopped", now_rfc3339()),
            )
            count += 1
        return count

    # -- one pod ------------------------------------------------------------------------------------

    def _create_pod(self, sandbox_root: Path) -> dict[str, Any]:
        template = self.job["spec"]["template"]
        tmeta = template.get("metadata") or {}
        labels = {
            **(tmeta.get("labels") or {}),
            "batch.kubernetes.io/job-name": self.name,
            "job-name": self.name,
            "batch.kubernetes.io/controller-uid": self.uid,
            "controller-uid": self.uid,
        }
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "generateName": f"{self.name}-",
                "namespace": self.ns,
                "labels": labels,
                "annotations": {**(tmeta.get("annotations") or {}), LOG_ANNOTATION: str(sandbox_root)},
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": self.name,
                        "uid": self.uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {**template["spec"], "nodeName": NODE_NAME},
        }
        return self.executor.rest.request("POST", f"/api/v1/namespaces/{self.ns}/pods", body=pod)

    def _create_admitted_pod(self, sandbox_root: Path, deadline_at: float | None) -> dict[str, Any] | None:
        """Create the Job's pod; a pod the API server refuses (Pod Security admission, quota, an invalid
        template) is what the real Job controller reports as a `FailedCreate` Warning on the Job and
        retries with back-off: the Job stays active with no pod, and a refused pod never counts as a
        failed one. None once activeDeadlineSeconds passes first."""
        while True:
            try:
                return self._create_pod(sandbox_root)
            except ApiException as exc:
                if exc.status not in (400, 403, 422):
                    raise
                ex = self.executor
                ex.event(self.job, "Warning", "FailedCreate", f"Error creating: {_api_message(exc)}")
                log.info("job %s/%s: pod refused (%s), retrying", self.ns, self.name, exc.status)
            if deadline_at is not None and time.time() >= deadline_at:
                return None
            self._backoff(deadline_at)

    def _write_pod_status(
        self, pod: dict[str, Any], phase: str, state: dict[str, Any], ready: bool = False
    ) -> dict[str, Any]:
        container = pod["spec"]["containers"][0]
        now = now_rfc3339()
        running_or_done = phase != "Pending"
        conditions = [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True" if ready else "False", "lastTransitionTime": now},
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now},
        ]
        pod["status"] = {
            **(pod.get("status") or {}),
            "phase": phase,
            "conditions": conditions,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": (pod.get("status") or {}).get("startTime") or now,
            "containerStatuses": [
                {
                    "name": container["name"],
                    "image": container.get("image", ""),
                    "imageID": "",
                    "ready": ready,
                    "restartCount": 0,
                    "started": running_or_done and "running" in state,
                    "state": state,
                }
            ],
        }
        meta = pod["metadata"]
        try:
            return self.executor.rest.request(
                "PUT", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status", body=pod
            )
        except ApiException as exc:
            if exc.status in (404, 409):
                fresh = self.executor.rest.get_or_none(
                    f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
                )
                if fresh is None:
                    return pod
                fresh["status"] = pod["status"]
                return self.executor.rest.request(
                    "PUT", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status", body=fresh
                )
            raise

    def _run_pod(self, deadline_at: float | None) -> PodOutcome:
        ex = self.executor
        sandbox = Sandbox(ex.work_dir / "pods" / self.ns / f"{self.name}-{int(time.time() * 1000)}").create()
        pod = self._create_admitted_pod(sandbox.root, deadline_at)
        if pod is None:
            return PodOutcome(exit_code=-1, message="", deadline_exceeded=True, created=False)
        pod_name = pod["metadata"]["name"]
        self._last_pod = pod_name
        ex.event(self.job, "Normal", "SuccessfulCreate", f"Created pod: {pod_name}")
        self._update_status(lambda st: st.update(active=1, ready=0))
        container = pod["spec"]["containers"][0]

        # Resolve env like the kubelet: a missing Secret/ConfigMap keeps the container waiting.
        waiting_message = ""
        while True:
            try:
                env = {**ex.launcher.base_env(sandbox, pod_name), **ex.launcher.resolve_env(pod, container)}
                env["STOCKOPS_TERMINATION_LOG"] = str(sandbox.termination_log)
                argv = local_argv(container, env, ex.python, ex.entrypoints)
                break
            except ExecutorError as exc:
                if "not found" not in str(exc) and "couldn't find key" not in str(exc):
                    pod = self._write_pod_status(
                        pod, "Failed", _terminated(128, "ContainerCannotRun", str(exc), now_rfc3339())
                    )
                    return PodOutcome(exit_code=128, message=str(exc))
                if str(exc) != waiting_message:
                    waiting_message = str(exc)
                    pod = self._write_pod_status(
                        pod,
                        "Pending",
                        {"waiting": {"reason": "CreateContainerConfigError", "message": waiting_message}},
                    )
                if deadline_at is not None and time.time() >= deadline_at:
                    self._kill_pod(pod)
                    return PodOutcome(exit_code=137, message=waiting_message, deadline_exceeded=True)
                if self.cancel.wait(1.0):
                    return PodOutcome(exit_code=137, message="", cancelled=True)

        started_at = now_rfc3339()
        try:
            process = ex.launcher.spawn(argv, env, sandbox, container.get("workingDir"))
        except ExecutorError as exc:
            self._write_pod_status(pod, "Failed", _terminated(128, "StartError", str(exc), started_at))
            return PodOutcome(exit_code=128, message=str(exc))
        log.info(
            "job %s/%s: pod %s runs %s (pid %d, log %s)",
            self.ns,
            self.name,
            pod_name,
            " ".join(argv),
            process.pid,
            sandbox.log,
        )
        pod = self._write_pod_status(pod, "Running", {"running": {"startedAt": started_at}}, ready=True)
        self._update_status(lambda st: st.update(active=1, ready=1))

        grace = min(float(pod["spec"].get("terminationGracePeriodSeconds", 30)), 10.0)
        deadline_hit = cancelled = False
        while process.poll() is None:
            if self.cancel.wait(0.2):
                cancelled = True
                break
            if deadline_at is not None and time.time() >= deadline_at:
                deadline_hit = True
                break
        exit_code = terminate_group(process, grace)
        policy = str(container.get("terminationMessagePolicy", "File"))
        message = read_termination_message(sandbox.termination_log, sandbox.log, policy, exit_code)
        reason = "Completed" if exit_code == 0 else "Error"
        phase = "Succeeded" if exit_code == 0 else "Failed"
        log.info(
            "job %s/%s: pod %s exited %d%s",
            self.ns,
            self.name,
            pod_name,
            exit_code,
            " (deadline)" if deadline_hit else "",
        )
        if cancelled:
            return PodOutcome(exit_code=exit_code, message=message, cancelled=True)
        self._write_pod_status(pod, phase, _terminated(exit_code, reason, message, started_at))
        if deadline_hit:
            # The controller deletes a Job's active pods when its deadline passes.
            self._kill_pod(pod)
        return PodOutcome(exit_code=exit_code, message=message, deadline_exceeded=deadline_hit)

    def _kill_pod(self, pod: Mapping[str, Any]) -> None:
        meta = pod["metadata"]
        self.executor.rest.delete(f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}")


class _JobGoneError(Exception):
    """The Job was deleted (or replaced by a new one with the same name) while we ran it."""


def _terminated(exit_code: int, reason: str, message: str, started_at: str) -> dict[str, Any]:
    state: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": started_at,
        "finishedAt": now_rfc3339(),
    }
    if message:
        state["message"] = message
    return {"terminated": state}


def _parse_time(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


# ---------------------------------------------------------------------------------------------------
# KServe stand-in.
# ---------------------------------------------------------------------------------------------------

MINIMAL_ISVC_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": ISVC_CRD_NAME, "labels": {"app.kubernetes.io/managed-by": "stockops-e2e-executor"}},
    "spec": {
        "group": ISVC_GROUP,
        "scope": "Namespaced",
        "names": {
            "plural": ISVC_PLURAL,
            "singular": "inferenceservice",
            "kind": "InferenceService",
            "listKind": "InferenceServiceList",
            "shortNames": ["isvc"],
        },
        "versions": [
            {
                "name": ISVC_VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
                "additionalPrinterColumns": [
                    {"name": "URL", "type": "string", "jsonPath": ".status.url"},
                    {
                        "name": "Ready",
                        "type": "string",
                        "jsonPath": ".status.conditions[?(@.type=='Ready')].status",
                    },
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
            }
        ],
    },
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def predictor_container(isvc: Mapping[str, Any]) -> dict[str, Any]:
    """The container KServe would run for `spec.predictor`: the first custom container, or the
    `model` block (which carries image/args/env the same way)."""
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    containers = predictor.get("containers") or []
    if containers:
        return dict(containers[0])
    model = predictor.get("model")
    if model:
        return {"name": "kserve-container", "image": model.get("image", "stockops/predictor"), **model}
    raise ExecutorError("spec.predictor has neither containers nor model")


def with_port(argv: list[str], port: int) -> list[str]:
    """Rewrite any --http-port/--http_port value to the port we chose."""
    out: list[str] = []
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        flag = arg.split("=", 1)[0]
        if flag in ("--http-port", "--http_port"):
            out.append(f"{flag}={port}")
            skip = "=" not in arg and i + 1 < len(argv)
            continue
        out.append(arg)
    return out


class PredictorServer(threading.Thread):
    """One InferenceService's predictor process, kept running and reported through status."""

    def __init__(self, executor: Executor, isvc: dict[str, Any]) -> None:
        meta = isvc["metadata"]
        super().__init__(name=f"isvc-{meta['namespace']}/{meta['name']}", daemon=True)
        self.executor = executor
        self.isvc = isvc
        self.stop_event = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None
        self.port = free_port()

    @property
    def ns(self) -> str:
        return str(self.isvc["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.isvc["metadata"]["name"])

    @property
    def generation(self) -> int:
        return int(self.isvc["metadata"].get("generation", 0))

    def stop(self) -> None:
        self.stop_event.set()
        if self.process is not None:
            terminate_group(self.process, 10.0)

    def _status(self, ready: bool, reason: str, message: str) -> None:
        url = f"http://127.0.0.1:{self.port}"
        current = self.executor.rest.get_or_none(isvc_path(self.ns, self.name))
        if current is None or current["metadata"]["uid"] != self.isvc["metadata"]["uid"]:
            self.stop_event.set()
            return
        conditions = (current.get("status") or {}).get("conditions") or []
        flag = "True" if ready else "False"
        for ctype in ("PredictorReady", "IngressReady", "Ready"):
            conditions = with_condition(
                conditions, ctype, "" if ready else reason, "" if ready else message, flag
            )
        for c in conditions:  # KServe conditions carry no probe time
            c.pop("lastProbeTime", None)
            if ready:
                c.pop("reason", None)
                c.pop("message", None)
        status: dict[str, Any] = {
            "observedGeneration": self.generation,
            "conditions": conditions,
            "modelStatus": {
                "states": {
                    "activeModelState": "Loaded" if ready else "Pending",
                    "targetModelState": "Loaded",
                },
                "transitionStatus": "UpToDate" if ready else "InProgress",
            },
        }
        if ready:
            status.update(
                url=url, address={"url": url}, components={"predictor": {"url": url, "address": {"url": url}}}
            )
        with contextlib.suppress(ApiException):
            self.executor.rest.merge_patch(isvc_path(self.ns, self.name) + "/status", {"status": status})

    def run(self) -> None:
        try:
            self._serve()
        except Exception:
            log.exception("isvc %s/%s: executor failure", self.ns, self.name)
        finally:
            # Whoever asked us to stop, the process this thread started dies with it.
            if self.process is not None:
                terminate_group(self.process, 10.0)

    def _serve(self) -> None:
        ex = self.executor
        restarts = 0
        while not self.stop_event.is_set():
            sandbox = Sandbox(
                ex.work_dir / "isvc" / self.ns / f"{self.name}-{int(time.time() * 1000)}"
            ).create()
            fake_pod = {
                "metadata": {
                    "name": f"{self.name}-predictor",
                    "namespace": self.ns,
                    "labels": {},
                    "annotations": {},
                    "uid": "",
                },
                "spec": {},
            }
            try:
                container = predictor_container(self.isvc)
                env = {
                    **ex.launcher.base_env(sandbox, f"{self.name}-predictor"),
                    **ex.launcher.resolve_env(fake_pod, container),
                    "PORT": str(self.port),
                }
                argv = with_port(local_argv(container, env, ex.python, ex.entrypoints), self.port)
                self.process = ex.launcher.spawn(argv, env, sandbox, container.get("workingDir"))
            except ExecutorError as exc:
                self._status(False, "PredictorConfigError", str(exc))
                if self.stop_event.wait(2.0):
                    return
                continue
            log.info(
                "isvc %s/%s: predictor runs %s on port %d (pid %d, log %s)",
                self.ns,
                self.name,
                " ".join(argv),
                self.port,
                self.process.pid,
                sandbox.log,
            )
            self._status(
                False, "Starting", f"predictor process {self.process.pid} starting; log {sandbox.log}"
            )
            probe = ((container.get("readinessProbe") or {}).get("httpGet") or {}).get(
                "path", "/v2/health/ready"
            )
            ready = False
            while not self.stop_event.is_set() and self.process.poll() is None:
                up = _http_ok(f"http://127.0.0.1:{self.port}{probe}")
                if up != ready:
                    ready = up
                    self._status(ready, "PredictorNotReady", f"GET {probe} does not answer 200")
                    if ready:
                        restarts = 0
                        log.info("isvc %s/%s: ready at http://127.0.0.1:%d", self.ns, self.name, self.port)
                self.stop_event.wait(0.5 if not ready else 2.0)
            if self.stop_event.is_set():
                return
            code = self.process.returncode
            tail = b"\n".join(sandbox.log.read_bytes().splitlines()[-20:]).decode(errors="replace")
            restarts += 1
            delay = min(2.0**restarts, 30.0)
            log.warning(
                "isvc %s/%s: predictor exited %s; restarting in %.0fs", self.ns, self.name, code, delay
            )
            self._status(
                False,
                "PredictorExited",
                f"predictor exited with code {code} (restart in {delay:.0f}s):\n{tail}",
            )
            if self.stop_event.wait(delay):
                return


def _http_ok(url: str) -> bool:
    """The readiness probe: HTTP 200, and when the body is KServe's `{"ready": ...}`, ready true
    (some KServe versions answer 200 with `"ready": false`)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            if resp.status != 200:
                return False
            body = resp.read(65536)
    except (urllib.error.URLError, OSError, ValueError):
        return False
    try:
        parsed = json.loads(body)
    except ValueError:
        return True
    return not (isinstance(parsed, dict) and parsed.get("ready") is False)


# ---------------------------------------------------------------------------------------------------
# Garbage collection and namespace finalization.
# ---------------------------------------------------------------------------------------------------

# Kinds the operator creates (and their pods); owners may be of any kind, found by discovery.
GC_DEPENDENT_COLLECTIONS: tuple[str, ...] = (
    "/api/v1/pods",
    "/api/v1/configmaps",
    "/api/v1/secrets",
    "/api/v1/services",
    "/apis/batch/v1/jobs",
    "/apis/batch/v1/cronjobs",
    "/apis/apps/v1/deployments",
    f"/apis/{ISVC_GROUP}/{ISVC_VERSION}/{ISVC_PLURAL}",
)


class Discovery:
    """kind -> (plural, namespaced) per group/version, refreshed when a kind is unknown."""

    def __init__(self, rest: Rest) -> None:
        self.rest = rest
        self._cache: dict[str, dict[str, tuple[str, bool]]] = {}

    def resource(self, api_version: str, kind: str) -> tuple[str, bool] | None:
        for refresh in (False, True):
            if refresh or api_version not in self._cache:
                path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
                listing = self.rest.get_or_none(path) or {}
                self._cache[api_version] = {
                    r["kind"]: (r["name"], bool(r.get("namespaced")))
                    for r in listing.get("resources") or []
                    if "/" not in r["name"]
                }
            if kind in self._cache[api_version]:
                return self._cache[api_version][kind]
        return None

    def namespaced_collections(self) -> list[str]:
        """Every namespaced resource that can be listed and deleted by collection."""
        groups = self.rest.get("/apis").get("groups") or []
        versions = ["v1", *[g["preferredVersion"]["groupVersion"] for g in groups]]
        out = []
        for gv in versions:
            base = "/api/v1" if gv == "v1" else f"/apis/{gv}"
            listing = self.rest.get_or_none(base) or {}
            for r in listing.get("resources") or []:
                verbs = set(r.get("verbs") or [])
                listable = {"list", "deletecollection"} <= verbs
                if r.get("namespaced") and "/" not in r["name"] and listable and r["name"] != "events":
                    out.append(f"{base}/namespaces/{{ns}}/{r['name']}")
        return out


class Collector(threading.Thread):
    """Deletes orphaned dependents and finalizes Terminating namespaces, once per interval."""

    def __init__(self, rest: Rest, interval: float, stop: threading.Event) -> None:
        super().__init__(name="collector", daemon=True)
        self.rest, self.interval, self.stop_event = rest, interval, stop
        self.discovery = Discovery(rest)

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            try:
                self.collect_orphans()
                self.finalize_namespaces()
            except Exception as exc:
                if not self.stop_event.is_set():
                    log.warning("collector: %s", exc)

    def _owner_exists(self, ns: str, ref: Mapping[str, Any], cache: dict[str, bool]) -> bool:
        uid = ref.get("uid", "")
        if uid in cache:
            return cache[uid]
        found = self.discovery.resource(ref["apiVersion"], ref["kind"])
        if found is None:
            exists = False
        else:
            plural, namespaced = found
            base = "/api/v1" if ref["apiVersion"] == "v1" else f"/apis/{ref['apiVersion']}"
            path = (
                f"{base}/namespaces/{ns}/{plural}/{ref['name']}"
                if namespaced
                else f"{base}/{plural}/{ref['name']}"
            )
            owner = self.rest.get_or_none(path)
            exists = owner is not None and owner["metadata"]["uid"] == uid
        cache[uid] = exists
        return exists

    def collect_orphans(self) -> None:
        cache: dict[str, bool] = {}
        for collection in GC_DEPENDENT_COLLECTIONS:
            listing = self.rest.get_or_none(collection)
            for obj in (listing or {}).get("items") or []:
                meta = obj["metadata"]
                refs = meta.get("ownerReferences") or []
                if not refs or meta.get("deletionTimestamp"):
                    continue
                if not any(self._owner_exists(meta.get("namespace", ""), r, cache) for r in refs):
                    group_version, plural = collection.rsplit("/", 1)
                    ns = meta.get("namespace")
                    path = (
                        f"{group_version}/namespaces/{ns}/{plural}/{meta['name']}"
                        if ns
                        else (f"{collection}/{meta['name']}")
                    )
                    log.info("collector: deleting %s (its owners are gone)", path)
                    self.rest.delete(path)

    def finalize_namespaces(self) -> None:
        namespaces = self.rest.get("/api/v1/namespaces").get("items") or []
        terminating = [
            n
            for n in namespaces
            if n["metadata"].get("deletionTimestamp")
            and "kubernetes" in (n.get("spec") or {}).get("finalizers", [])
        ]
        if not terminating:
            return
        collections = self.discovery.namespaced_collections()
        for namespace in terminating:
            ns = namespace["metadata"]["name"]
            remaining = 0
            for template in collections:
                path = template.format(ns=ns)
                try:
                    left = (self.rest.get(path).get("items")) or []
                    if left:
                        remaining += len(left)
                        self.rest.request("DELETE", path, body={"propagationPolicy": "Background"})
                except ApiException as exc:
                    if exc.status not in (404, 405):
                        raise
            if remaining == 0:
                namespace["spec"]["finalizers"] = [
                    f for f in namespace["spec"]["finalizers"] if f != "kubernetes"
                ]
                with contextlib.suppress(ApiException):
                    self.rest.request("PUT", f"/api/v1/namespaces/{ns}/finalize", body=namespace)
                log.info("collector: namespace %s finalized", ns)


# ---------------------------------------------------------------------------------------------------
# The executor.
# ---------------------------------------------------------------------------------------------------


class Executor:
    """Runs Jobs, serves InferenceServices and collects garbage for one API server until stop()."""

    def __init__(
        self,
        api_client: k8s_client.ApiClient,
        *,
        work_dir: Path,
        label_selector: str = MANAGED_BY_SELECTOR,
        python: str = sys.executable,
        extra_env: Mapping[str, str] | None = None,
        retry_backoff_s: float = 1.0,
        gc_interval_s: float = 1.0,
        entrypoints: Mapping[str, tuple[str, ...]] = IMAGE_ENTRYPOINTS,
        serve_inference: bool = True,
    ) -> None:
        self.rest = Rest(api_client)
        self.work_dir = work_dir
        self.label_selector = label_selector
        self.python = python
        self.retry_backoff_s = retry_backoff_s
        self.gc_interval_s = gc_interval_s
        self.entrypoints = entrypoints
        self.serve_inference = serve_inference
        self.launcher = Launcher(self.rest, work_dir, python, dict(extra_env or {}), entrypoints)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._jobs: dict[str, JobRun] = {}
        self._servers: dict[str, PredictorServer] = {}
        self._threads: list[threading.Thread] = []
        self._informers: list[Informer] = []

    @property
    def extra_env(self) -> dict[str, str]:
        """Env added to every container started from now on (e.g. an MLflow URI for a test); mutable."""
        env = self.launcher.extra_env
        assert isinstance(env, dict)
        return env

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> Executor:
        """Start watching; returns once the first lists are processed (so nothing created before is
        missed by a test that starts right after)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        jobs = Informer(
            self.rest, "/apis/batch/v1/jobs", self.label_selector, self._on_job, self._stop, "jobs"
        )
        self._informers.append(jobs)
        if self.serve_inference:
            self.ensure_isvc_crd()
            isvcs = Informer(
                self.rest,
                f"/apis/{ISVC_GROUP}/{ISVC_VERSION}/{ISVC_PLURAL}",
                "",
                self._on_isvc,
                self._stop,
                "isvcs",
            )
            self._informers.append(isvcs)
        collector = Collector(self.rest, self.gc_interval_s, self._stop)
        for thread in [*self._informers, collector]:
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + timeout
        for informer in self._informers:
            if not informer.synced.wait(max(0.0, deadline - time.monotonic())):
                self.stop()
                raise RuntimeError(f"executor: {informer.path} did not list within {timeout:.0f}s")
        log.info(
            "executor watching jobs (%s)%s",
            self.label_selector,
            " and inferenceservices" if self.serve_inference else "",
        )
        return self

    def stop(self) -> None:
        """Stop every process we started (by pid, process group) and every thread."""
        self._stop.set()
        for informer in self._informers:
            informer.close()
        with self._lock:
            runs, servers = list(self._jobs.values()), list(self._servers.values())
        for run in runs:
            run.cancel.set()
        for server in servers:
            server.stop()
        for thread in [*runs, *servers, *self._threads]:
            thread.join(timeout=15)

    def __enter__(self) -> Executor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- jobs ----------------------------------------------------------------------------------------

    def _on_job(self, etype: str, job: dict[str, Any]) -> None:
        uid = job["metadata"]["uid"]
        with self._lock:
            current = self._jobs.get(uid)
            if etype == "DELETED" or job["metadata"].get("deletionTimestamp"):
                if current is not None:
                    current.cancel.set()
                return
            spec = job.get("spec") or {}
            if current is not None:
                if spec.get("suspend"):
                    current.cancel.set()
                return
            if job_finished(job) or spec.get("suspend") or spec.get("parallelism") == 0:
                return
            if self._stop.is_set():
                return
            run = JobRun(self, job)
            self._jobs[uid] = run
            run.start()

    def _job_done(self, uid: str) -> None:
        with self._lock:
            self._jobs.pop(uid, None)

    # -- inference services ------------------------------------------------------------------------

    def ensure_isvc_crd(self, timeout: float = 30.0) -> bool:
        """Install the minimal InferenceService CRD when absent; True when we installed it."""
        path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{ISVC_CRD_NAME}"
        if self.rest.get_or_none(path) is not None:
            return False
        try:
            self.rest.request(
                "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=MINIMAL_ISVC_CRD
            )
        except ApiException as exc:
            if exc.status != 409:
                raise
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            crd = self.rest.get_or_none(path) or {}
            if any(
                c.get("type") == "Established" and c.get("status") == "True"
                for c in (crd.get("status") or {}).get("conditions") or []
            ):
                log.info("installed the minimal %s CRD (no KServe here)", ISVC_CRD_NAME)
                return True
            time.sleep(0.2)
        raise RuntimeError(f"CRD {ISVC_CRD_NAME} not Established after {timeout:.0f}s")

    def _on_isvc(self, etype: str, isvc: dict[str, Any]) -> None:
        meta = isvc["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        with self._lock:
            current = self._servers.get(key)
            gone = etype == "DELETED" or bool(meta.get("deletionTimestamp"))
            same = (
                current is not None
                and current.isvc["metadata"]["uid"] == meta["uid"]
                and current.generation == int(meta.get("generation", 0))
            )
            if same and not gone:
                return
            if current is not None:
                self._servers.pop(key)
            if not gone and not self._stop.is_set():
                server = PredictorServer(self, isvc)
                self._servers[key] = server
            else:
                server = None
        if current is not None:
            log.info("isvc %s: stopping predictor (%s)", key, "deleted" if gone else "spec changed")
            current.stop()
        if server is not None:
            server.start()

    def predictor_url(self, namespace: str, name: str) -> str | None:
        with self._lock:
            server = self._servers.get(f"{namespace}/{name}")
        return f"http://127.0.0.1:{server.port}" if server else None

    # -- events ------------------------------------------------------------------------------------

    def event(self, obj: Mapping[str, Any], etype: str, reason: str, message: str) -> None:
        """Record an Event on `obj` as the Job controller would; best effort."""
        meta = obj["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", "batch/v1"),
                "kind": obj.get("kind", "Job"),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "reason": reason,
            "message": message,
            "type": etype,
            "source": {"component": "job-controller"},
            "reportingComponent": "job-controller",
            "reportingInstance": NODE_NAME,
            "firstTimestamp": now_rfc3339(),
            "lastTimestamp": now_rfc3339(),
            "count": 1,
        }
        with contextlib.suppress(ApiException):
            self.rest.request("POST", f"/api/v1/namespaces/{meta['namespace']}/events", body=body)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Local kubelet/Job controller/KServe stand-in for the test API server."
    )
    parser.add_argument("--kubeconfig", required=True, type=Path)
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="pod sandboxes and logs (default: a temp dir)"
    )
    parser.add_argument("--selector", default=MANAGED_BY_SELECTOR, help="label selector of the Jobs to run")
    parser.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="extra env for every container (repeatable)"
    )
    parser.add_argument("--no-inference", action="store_true", help="do not stand in for KServe")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s executor %(levelname)s %(message)s",
    )
    extra: dict[str, str] = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--env {item!r}: expected KEY=VALUE")
        extra[key] = value
    import tempfile

    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="stockops-executor-"))
    api_client = k8s_config.new_client_from_config(config_file=str(args.kubeconfig))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    executor = Executor(
        api_client,
        work_dir=work_dir / "executor",
        label_selector=args.selector,
        extra_env=extra,
        serve_inference=not args.no_inference,
    )
    executor.start()
    log.info("executor ready; pod logs under %s", work_dir / "executor")
    stop.wait()
    log.info("executor stopping")
    executor.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
