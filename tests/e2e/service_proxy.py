"""The cluster network stand-in: an HTTP forward proxy that does what cluster DNS and kube-proxy do.

Why it exists: the test cluster has no pod network. Each pod gets its own loopback address from the
node agent (node_agent.py), but nothing resolves `aapl-predictor.team.svc.cluster.local`, and the API
server refuses loopback addresses in EndpointSlices ("may not be in the loopback range"), so the real
EndpointSlice controller publishes Services with no endpoints. Clients here (tests, the gateway, the
operator, the pods the node agent runs) are given `HTTP_PROXY` pointing at this proxy, which resolves
each request's host the way the cluster would:

- `<service>.<namespace>.svc[.cluster.local]`: the Service's endpoints, computed as the EndpointSlice
  controller would: pods matching its selector that are Ready, not terminating, with a podIP; the
  request's port is the Service port, forwarded to its `targetPort` (a number, or a container port's
  name looked up in each pod);
- an IP literal or `localhost`: straight through (NO_PROXY normally keeps those away from here).

No ingress runs here, so KServe's external host (`status.url`, `aapl-team.example.com`) does not
resolve, as on a cluster without one: in-cluster callers use `status.address.url`.

It is never more lenient than a cluster: an unknown host is 502 (a DNS failure on a cluster), a Service
with no ready endpoint is 503 (kube-proxy rejects such connections), and only plain HTTP is proxied
(CONNECT is refused: nothing in the test cluster serves TLS).

Use: `ServiceProxy(api_client).start()` ... `.stop()`; `.env` is what a client process needs.
"""

from __future__ import annotations

import http.client
import importlib.util
import ipaddress
import itertools
import logging
import sys
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client as k8s_client
from kubernetes.client.rest import ApiException

log = logging.getLogger("stockops.e2e.service_proxy")

SERVICE_SUFFIXES = (".svc.cluster.local", ".svc")
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade"}
)  # fmt: skip
# What clients should not send here: this machine, and the node agent's pod addresses.
NO_PROXY = "127.0.0.1,localhost,::1,127.1.0.0/16"
UPSTREAM_TIMEOUT_S = 300.0


def _pod_runtime() -> ModuleType:
    name = "stockops_e2e_pod_runtime"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("pod_runtime.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


class UnroutableError(Exception):
    """The request cannot reach a backend; `status` is what the client gets, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------------------------------------------
# Pure parts: names, endpoints. No I/O.
# ---------------------------------------------------------------------------------------------------


def service_name(host: str) -> tuple[str, str] | None:
    """(service, namespace) of a cluster-DNS Service name, else None."""
    for suffix in SERVICE_SUFFIXES:
        if host.endswith(suffix):
            labels = host[: -len(suffix)].split(".")
            if len(labels) == 2 and all(labels):
                return labels[0], labels[1]
    return None


def is_literal(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return ready and bool(status.get("podIP")) and not (pod.get("metadata") or {}).get("deletionTimestamp")


def _target_port(target: Any, pod: Mapping[str, Any]) -> int | None:
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return int(port["containerPort"])
    return None


def endpoints(
    service: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], port: int
) -> list[tuple[str, int]]:
    """The (podIP, port) pairs a connection to `service`:`port` may go to, as kube-proxy programs them."""
    spec = service.get("spec") or {}
    selector = spec.get("selector") or {}
    service_port = next((p for p in spec.get("ports") or [] if int(p.get("port", 0)) == port), None)
    if not selector or service_port is None:
        return []
    target = service_port.get("targetPort", service_port["port"])
    out = []
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if all(labels.get(k) == v for k, v in selector.items()) and _pod_ready(pod):
            resolved = _target_port(target, pod)
            if resolved is not None:
                out.append((str(pod["status"]["podIP"]), resolved))
    return out


# ---------------------------------------------------------------------------------------------------
# The proxy.
# ---------------------------------------------------------------------------------------------------


class ServiceProxy:
    """A forward proxy on 127.0.0.1 that routes cluster names to ready pods (see the module docstring)."""

    def __init__(self, api_client: k8s_client.ApiClient) -> None:
        self.rest = _pod_runtime().Rest(api_client)
        self._turn = itertools.count()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s " + format, self.address_string(), *args)

            def do_CONNECT(self) -> None:
                self._fail(405, "CONNECT is not proxied: the test cluster serves no TLS")

            def _forward(self) -> None:
                try:
                    proxy.forward(self)
                except UnroutableError as exc:
                    self._fail(exc.status, str(exc))

            def _fail(self, status: int, message: str) -> None:
                body = (message + "\n").encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="service-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def env(self) -> dict[str, str]:
        """The environment of a client that should reach Services through this proxy."""
        return {"HTTP_PROXY": self.url, "http_proxy": self.url, "NO_PROXY": NO_PROXY, "no_proxy": NO_PROXY}

    def start(self) -> ServiceProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def resolve(self, host: str, port: int) -> tuple[str, int]:
        """Where a connection to host:port goes; raises UnroutableError as the cluster would fail it."""
        if is_literal(host):
            return host, port
        name = service_name(host)
        if name is None:
            raise UnroutableError(502, f"no such host {host!r} here (no Service by that name, no ingress)")
        service, namespace = name
        try:
            obj = self.rest.get(f"/api/v1/namespaces/{namespace}/services/{service}")
        except ApiException as exc:
            if exc.status == 404:
                raise UnroutableError(502, f"no Service {namespace}/{service} (host {host!r})") from exc
            raise
        selector = ",".join(f"{k}={v}" for k, v in ((obj.get("spec") or {}).get("selector") or {}).items())
        pods = self.rest.get(f"/api/v1/namespaces/{namespace}/pods", query=[("labelSelector", selector)])
        ready = endpoints(obj, pods.get("items") or [], port)
        if not ready:
            raise UnroutableError(503, f"Service {namespace}/{service} port {port} has no ready endpoint")
        return ready[next(self._turn) % len(ready)]

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        if parts.scheme != "http" or not parts.hostname:
            raise UnroutableError(400, f"a proxy request needs an absolute http:// URL, got {handler.path!r}")
        ip, port = self.resolve(parts.hostname, parts.port or 80)
        length = int(handler.headers.get("Content-Length") or 0)
        if handler.headers.get("Transfer-Encoding"):
            raise UnroutableError(411, "chunked request bodies are not proxied: send Content-Length")
        body = handler.rfile.read(length) if length else None
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        upstream = http.client.HTTPConnection(ip, port, timeout=UPSTREAM_TIMEOUT_S)
        try:
            try:
                upstream.request(handler.command, path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
            except OSError as exc:
                raise UnroutableError(502, f"{parts.hostname} -> {ip}:{port}: {exc}") from exc
            handler.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                    handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(data)
        finally:
            upstream.close()
