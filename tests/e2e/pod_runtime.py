"""What a kubelet stand-in needs to run a container as a local process, and to talk to the API server.

Why a module of its own: the node agent (node_agent.py) is the only simulated part of the test cluster,
and these are its pure rules and plumbing, each mirroring one rule of the kubelet: which of our images
maps to which local entrypoint, the argv a container runs (`command`/`args`, `$(VAR)` expansion), the
env it gets (literal values, Secret/ConfigMap refs, fieldRefs, envFrom), the termination message it
leaves, and how its process group is stopped. `Rest` and `Informer` are raw JSON access to the API
server (list + watch with relist), shared by the node agent and the service proxy (service_proxy.py).

Not a test module: loaded by path, like every script beside conftest.py.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.rest import ApiException
from kubernetes.watch.watch import iter_resp_lines

log = logging.getLogger("stockops.e2e.pod_runtime")

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
_WATCH_TIMEOUT_S = 20


class ContainerError(RuntimeError):
    """A container cannot be run locally; the message is what the Pod status shows."""


# ---------------------------------------------------------------------------------------------------
# Pure parts: image, command, env, termination message. No I/O; each mirrors one rule of the kubelet.
# ---------------------------------------------------------------------------------------------------


def _api_message(exc: ApiException) -> str:
    """The Status message the API server gave, as the Job controller quotes it in FailedCreate."""
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except ValueError:
        return str(exc.body or exc.reason)


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
            raise ContainerError(
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
    # address and writes it to status before any container starts).
    host_ip = str(status.get("hostIP") or "")
    pod_ip = str(status.get("podIP") or "")
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod.get("spec", {}).get("nodeName") or "",
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
    raise ContainerError(f"fieldRef {path!r} is not supported by the node agent")


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
    """Starts container processes with the env the kubelet would give them."""

    rest: Rest
    work_dir: Path
    python: str
    extra_env: Mapping[str, str]
    entrypoints: Mapping[str, tuple[str, ...]]

    def resolve_env(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, str]:
        """The container's env as the kubelet builds it; raises ContainerError for a missing ref."""
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
                    raise ContainerError(f"couldn't find key {ref['key']} in {kind_name} {ns}/{ref['name']}")
            elif "resourceFieldRef" in source:
                env[name] = "0"  # limits are not enforced locally; the value only has to exist
            else:
                raise ContainerError(f"env {name}: unsupported valueFrom {sorted(source)}")
        return env

    def _ref_data(self, ns: str, kind: str, name: str, optional: bool) -> dict[str, str]:
        obj = self.rest.get_or_none(f"/api/v1/namespaces/{ns}/{kind}/{name}")
        if obj is None:
            if optional:
                return {}
            raise ContainerError(f'{kind[:-1]} "{name}" not found')
        if kind == "secrets":
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
                raise ContainerError(f"cannot start {argv[0]!r}: {exc}") from exc


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
