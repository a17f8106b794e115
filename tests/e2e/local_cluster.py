"""What the test cluster runs beside `stockops-testenv --controllers`: real KServe, the service proxy and
the node agent, started in the order they depend on each other and stopped in reverse.

Why one place: the e2e fixtures (conftest.py) and the dev cluster (`make dev-cluster`, which runs this
file as a script) must meet the same cluster, so a walk-through that works in one works in the other.

- KServe (kserve_control.py): its CRDs and config map, its controller manager in RawDeployment mode and
  its admission webhooks, registered last so the manager serves them before any object meets them;
- the service proxy (service_proxy.py): cluster DNS + kube-proxy for clients on this machine;
- the node agent (node_agent.py): the kubelet of a CPU node and a tainted GPU node, whose pods run as
  local processes, and, when podman and the built images are there (`STOCKOPS_CONTAINERS_CONF`, set by
  scripts/build-images.sh), of an OCI node whose pods run from those images (oci_runtime.py); the pods
  get the proxy's environment, so they reach Services by name as pods do.

Script use (what the dev cluster does): `python tests/e2e/local_cluster.py --kubeconfig K --work-dir D
--env-file F` starts the parts, writes the proxy's environment to F (KEY=VALUE lines) once everything
is up, and runs until SIGTERM or Ctrl-C; it exits 1 when KServe's manager dies.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

E2E_DIR = Path(__file__).resolve().parent


def load_sibling(name: str, file_name: str) -> ModuleType:
    """A script beside this file, loaded by path (tests/ is no package) and registered under `name`
    so its dataclasses resolve their module; loaded once per process."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, E2E_DIR / file_name)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass
class ClusterParts:
    """The running parts; `stop()` stops them, dependents first."""

    kserve: Any
    proxy: Any
    nodes: Any
    _stack: contextlib.ExitStack = field(repr=False)

    def stop(self) -> None:
        self._stack.close()


def oci_runtime() -> Any:
    """podman with the images' engine settings, when both are there; else None (no OCI node)."""
    podman, conf = shutil.which("podman"), os.environ.get("STOCKOPS_CONTAINERS_CONF")
    if podman is None or not conf:
        return None
    client_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    oci = load_sibling("stockops_e2e_oci_runtime", "oci_runtime.py")
    return oci.OciRuntime(podman=podman, client_env={**client_env, "CONTAINERS_CONF": conf})


def start_parts(api: k8s_client.ApiClient, kubeconfig: Path, work_dir: Path, repo_root: Path) -> ClusterParts:
    """Install and start KServe, the service proxy and the node agent against a running test server."""
    kserve_control = load_sibling("stockops_e2e_kserve_control", "kserve_control.py")
    proxy_module = load_sibling("stockops_e2e_service_proxy", "service_proxy.py")
    agent_module = load_sibling("stockops_e2e_node_agent", "node_agent.py")
    stack = contextlib.ExitStack()
    try:
        release = kserve_control.find_kserve(repo_root)
        kserve_control.install_kserve(api, release)
        kserve = kserve_control.KServeManager.start(release, kubeconfig, work_dir / "kserve")
        stack.callback(kserve.stop)
        kserve_control.register_webhooks(api, release, kserve.webhook_port, kserve.ca_pem)
        proxy = proxy_module.ServiceProxy(api).start()
        stack.callback(proxy.stop)
        nodes = agent_module.NodeAgent(
            api, work_dir=work_dir / "nodes", extra_env=proxy.env, oci=oci_runtime()
        ).start()
        stack.callback(nodes.stop)
    except BaseException:
        stack.close()
        raise
    return ClusterParts(kserve=kserve, proxy=proxy, nodes=nodes, _stack=stack)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", type=Path, required=True, help="admin kubeconfig of the test server")
    parser.add_argument("--work-dir", type=Path, required=True, help="KServe's and the pods' files")
    parser.add_argument("--env-file", type=Path, required=True, help="written once up: the proxy's env")
    parser.add_argument("--repo-root", type=Path, default=E2E_DIR.parents[1])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    api = k8s_config.new_client_from_config(config_file=str(args.kubeconfig))
    parts = start_parts(api, args.kubeconfig, args.work_dir, args.repo_root)
    try:
        partial = args.env_file.with_suffix(".partial")
        partial.write_text("".join(f"{k}={v}\n" for k, v in parts.proxy.env.items()))
        partial.replace(args.env_file)  # whole or absent: the dev cluster waits for it
        while True:
            if not parts.kserve.alive():
                print(f"the KServe manager died:\n{parts.kserve.log_tail()}", file=sys.stderr)
                return 1
            time.sleep(1.0)
    except KeyboardInterrupt:
        return 0
    finally:
        parts.stop()


if __name__ == "__main__":
    sys.exit(main())
