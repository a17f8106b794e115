"""The real KServe controller manager against a test API server: install, certificates, start, stop.

Why: the e2e executor (executor.py) stands in for KServe, and a stand-in only does what we thought
KServe does. This module runs KServe itself — its CRDs, its `inferenceservice-config` config map, its
admission webhooks and its controller manager, all from the `github.com/kserve/kserve` Go module that
`scripts/build-testenv.sh kserve` builds into a cache — in Standard (RawDeployment) mode, with no
Knative, Istio or cert-manager:

- the manager runs on this machine, so its webhook configurations point at
  `https://127.0.0.1:<port>/<path>` with the CA bundle of a throw-away CA made here (openssl), instead
  of at an in-cluster Service;
- controller-runtime reads the serving certificate from `$TMPDIR/k8s-webhook-server/serving-certs`
  (KServe's manager exposes no flag for it), so each manager gets its own TMPDIR;
- the config map's `deploy` section is set to RawDeployment (KServe 0.20 normalises it to Standard)
  and its Istio virtual host is off.

The pure parts (`webhook_configurations`, `configured_for_raw`) take parsed YAML and return manifests;
the I/O (API calls, the process) stays in `install_kserve` and `KServeManager`.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s_client

from stockops.devcluster import install_crds, stop_process

KSERVE_DIR_ENV = "STOCKOPS_KSERVE_DIR"
KSERVE_NAMESPACE = "kserve"
CONFIG_MAP_NAME = "inferenceservice-config"
BUILD_COMMAND = "scripts/build-testenv.sh kserve"
_LOG_TAIL_LINES = 80


class KServeError(RuntimeError):
    """KServe could not be found, installed or started; the message says what to do."""


@dataclass(frozen=True)
class KServeRelease:
    """One cached KServe build: the manager binary and the manifests of the same module version."""

    root: Path

    @property
    def version(self) -> str:
        return (self.root / "VERSION").read_text().strip()

    @property
    def manager(self) -> Path:
        return self.root / "bin" / "manager"

    @property
    def crd_dir(self) -> Path:
        return self.root / "crd"

    @property
    def config_map(self) -> Path:
        return self.root / "configmap" / "inferenceservice.yaml"

    @property
    def webhook_manifests(self) -> Path:
        return self.root / "webhook" / "manifests.yaml"

    def check(self) -> KServeRelease:
        missing = [
            p
            for p in (self.manager, self.config_map, self.webhook_manifests, self.root / "VERSION")
            if not p.is_file()
        ]
        if missing or not any(self.crd_dir.glob("*.yaml")):
            what = ", ".join(map(str, missing)) or "CRDs"
            raise KServeError(
                f"{self.root} is not a complete KServe build (missing {what}); run `{BUILD_COMMAND}`"
            )
        return self


def find_kserve(repo_root: Path) -> KServeRelease:
    """The cached KServe build: `$STOCKOPS_KSERVE_DIR`, else what the build script prints (building it)."""
    configured = os.environ.get(KSERVE_DIR_ENV)
    if configured:
        return KServeRelease(Path(configured)).check()
    script = repo_root / "scripts" / "build-testenv.sh"
    result = subprocess.run(["bash", str(script), "kserve"], stdout=subprocess.PIPE, text=True, check=False)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise KServeError(
            f"`{BUILD_COMMAND}` failed with exit code {result.returncode}; its messages are above "
            "(a cold build of the KServe manager needs Go and the Go module proxy)"
        )
    return KServeRelease(Path(lines[-1])).check()


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports free right now (held open together, so none repeats)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


@dataclass(frozen=True)
class WebhookCerts:
    """A throw-away CA and the serving certificate it signed for 127.0.0.1."""

    ca_pem: bytes
    cert_dir: Path  # holds tls.crt and tls.key, the names controller-runtime reads


def make_webhook_certs(work_dir: Path, cert_dir: Path) -> WebhookCerts:
    """Self-signed CA + a serverAuth certificate with SAN IP:127.0.0.1, valid one day (openssl)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    cert_dir.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = work_dir / "ca.key", work_dir / "ca.crt"
    csr, ext = work_dir / "tls.csr", work_dir / "tls.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n"
    )
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=stockops-e2e-kserve-ca",
         "-keyout", str(ca_key), "-out", str(ca_crt)],
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", str(cert_dir / "tls.key"), "-out", str(csr)],
        ["x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
         "-days", "1", "-extfile", str(ext), "-out", str(cert_dir / "tls.crt")],
    ]  # fmt: skip
    for args in steps:
        result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise KServeError(f"openssl {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return WebhookCerts(ca_pem=ca_crt.read_bytes(), cert_dir=cert_dir)


def webhook_configurations(manifests: list[dict[str, Any]], port: int, ca_pem: bytes) -> list[dict[str, Any]]:
    """KServe's webhook configurations with each `clientConfig.service` replaced by a loopback URL.

    Names, rules, failure policies, selectors and paths stay KServe's (config/webhook/manifests.yaml);
    only where the API server sends the review changes, since the manager is a local process.
    """
    bundle = base64.b64encode(ca_pem).decode()
    out = []
    for doc in manifests:
        if doc.get("kind") not in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            continue
        doc = copy.deepcopy(doc)
        doc["metadata"] = {"name": doc["metadata"]["name"]}
        for hook in doc.get("webhooks", []):
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}", "caBundle": bundle}
        out.append(doc)
    return out


def configured_for_raw(config_map: Mapping[str, Any], mode: str = "RawDeployment") -> dict[str, Any]:
    """KServe's config map, as an install without Knative and Istio sets it.

    `deploy.defaultDeploymentMode` is `mode`; `ingress.disableIstioVirtualHost` is true, as KServe's own
    warning asks when the VirtualService CRD is absent. Everything else stays KServe's default.
    """
    out = copy.deepcopy(dict(config_map))
    out["metadata"] = {"name": CONFIG_MAP_NAME, "namespace": KSERVE_NAMESPACE}
    out["data"]["deploy"] = json.dumps({"defaultDeploymentMode": mode})
    ingress = json.loads(out["data"]["ingress"])
    ingress["disableIstioVirtualHost"] = True
    out["data"]["ingress"] = json.dumps(ingress)
    return out


def config_map_section(release: KServeRelease, key: str) -> dict[str, Any]:
    """One JSON section of KServe's shipped config map (e.g. `inferenceService`: its resource defaults)."""
    (config_map,) = [d for d in yaml.safe_load_all(release.config_map.read_text()) if d]
    section: dict[str, Any] = json.loads(config_map["data"][key])
    return section


def install_kserve(
    api: k8s_client.ApiClient, release: KServeRelease, deploy_mode: str = "RawDeployment"
) -> list[str]:
    """Apply KServe's CRDs, its namespace and config map; the CRD names applied."""
    crds = install_crds(api, release.crd_dir)
    core = k8s_client.CoreV1Api(api)
    try:
        core.create_namespace({"metadata": {"name": KSERVE_NAMESPACE}})
    except k8s_client.ApiException as exc:
        if exc.status != 409:
            raise
    (config_map,) = [d for d in yaml.safe_load_all(release.config_map.read_text()) if d]
    core.patch_namespaced_config_map(
        CONFIG_MAP_NAME,
        KSERVE_NAMESPACE,
        configured_for_raw(config_map, deploy_mode),
        field_manager="stockops-e2e",
        force=True,
        _content_type="application/apply-patch+yaml",
    )
    return crds


def register_webhooks(
    api: k8s_client.ApiClient, release: KServeRelease, port: int, ca_pem: bytes
) -> list[str]:
    """Server-side apply KServe's webhook configurations (pointing at the local manager); their names."""
    docs = [d for d in yaml.safe_load_all(release.webhook_manifests.read_text()) if d]
    adm = k8s_client.AdmissionregistrationV1Api(api)
    names = []
    for doc in webhook_configurations(docs, port, ca_pem):
        patch = (
            adm.patch_mutating_webhook_configuration
            if doc["kind"] == "MutatingWebhookConfiguration"
            else adm.patch_validating_webhook_configuration
        )
        patch(
            doc["metadata"]["name"],
            doc,
            field_manager="stockops-e2e",
            force=True,
            _content_type="application/apply-patch+yaml",
        )
        names.append(f"{doc['kind']}/{doc['metadata']['name']}")
    return names


def unregister_webhooks(api: k8s_client.ApiClient, release: KServeRelease) -> None:
    """Delete KServe's webhook configurations: with failurePolicy Fail they would block every write
    to InferenceServices once the manager is gone."""
    adm = k8s_client.AdmissionregistrationV1Api(api)
    for doc in yaml.safe_load_all(release.webhook_manifests.read_text()):
        if not doc:
            continue
        delete = {
            "MutatingWebhookConfiguration": adm.delete_mutating_webhook_configuration,
            "ValidatingWebhookConfiguration": adm.delete_validating_webhook_configuration,
        }.get(doc.get("kind", ""))
        if delete is None:
            continue
        try:
            delete(doc["metadata"]["name"])
        except k8s_client.ApiException as exc:
            if exc.status != 404:
                raise


@dataclass
class KServeManager:
    """One running KServe controller manager process, its ports and its log."""

    process: subprocess.Popen[bytes]
    release: KServeRelease
    webhook_port: int
    probe_port: int
    metrics_port: int
    log_path: Path
    ca_pem: bytes

    @classmethod
    def start(
        cls, release: KServeRelease, kubeconfig: Path, work_dir: Path, *, timeout: float = 120.0
    ) -> KServeManager:
        """Start the manager (leader election off, probes and metrics on loopback) and wait for /readyz.

        /readyz answers once the webhook server serves TLS; the controllers start beside it.
        """
        tmp = work_dir / "tmp"
        certs = make_webhook_certs(work_dir / "pki", tmp / "k8s-webhook-server" / "serving-certs")
        webhook_port, probe_port, metrics_port = free_ports(3)
        log_path = work_dir / "kserve-manager.log"
        env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),  # the manager and its defaulter both read it
            "POD_NAMESPACE": KSERVE_NAMESPACE,  # where KServe looks for its config map
            "TMPDIR": str(tmp),  # controller-runtime's default cert dir lives under it
        }
        args = [
            str(release.manager),
            f"--webhook-port={webhook_port}",
            f"--health-probe-addr=127.0.0.1:{probe_port}",
            f"--metrics-addr=127.0.0.1:{metrics_port}",
            "--leader-elect=false",
        ]
        with log_path.open("wb") as log:
            process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        manager = cls(process, release, webhook_port, probe_port, metrics_port, log_path, certs.ca_pem)
        try:
            manager._wait_ready(timeout)
        except BaseException:
            manager.stop()
            raise
        return manager

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.probe_port}/readyz"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise KServeError(
                    f"the KServe manager exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise KServeError(f"the KServe manager was not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> int | None:
        """SIGTERM (controller-runtime drains and exits), SIGKILL if it hangs."""
        return stop_process(self.process, timeout=20.0)
