"""The examples trained and served from the built images, in containers, on the test cluster's OCI node.

The node agent's OCI node (label and taint `stockops.io/runtime=oci`, see oci_runtime.py) runs its
pods with podman from the images `scripts/build-images.sh` built (what `make test` exports as
`STOCKOPS_IMAGE_*`), under each pod's security context: the non-root uid, a read-only root filesystem,
no capabilities. The example ParentModel and TickerModel name those images and that node, and go the
whole way: the trainer image trains from CSV files served over HTTP (a container cannot read this
machine's files) into the real MLflow server, the predictor image serves the promoted version, the
real KServe and Deployment controller make it Ready, and a V1 request through its URL answers.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e

OCI_PLACEMENT = {
    "nodeSelector": {"stockops.io/runtime": "oci"},
    "tolerations": [
        {"key": "stockops.io/runtime", "operator": "Equal", "value": "oci", "effect": "NoSchedule"}
    ],
}


@pytest.fixture
def served_csv(ohlcv_dir: Path) -> Iterator[str]:
    """The CSV folder over HTTP on loopback (the containers share this machine's network)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(ohlcv_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"csv:http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _example(repo_root: Path, file_name: str, image: dict[str, str]) -> str:
    body = yaml.safe_load((repo_root / "examples" / file_name).read_text())
    body["spec"]["scheduling"] = OCI_PLACEMENT
    body["spec"]["image"] = {**image, "pullPolicy": "Never"}  # nothing is pulled: the store has them
    return yaml.safe_dump(body)


def test_the_examples_train_and_serve_from_the_built_images_under_the_restricted_context(
    e2e_cluster: Any,
    e2e_namespace: str,
    start_operator: Any,
    harness: Any,
    repo_root: Path,
    served_csv: str,
    node_agent: Any,
) -> None:
    if not e2e_cluster.local:
        pytest.skip("the OCI node is the local test cluster's; a real cluster's nodes run images anyway")
    trainer, predictor = os.environ.get("STOCKOPS_IMAGE_TRAINER"), os.environ.get("STOCKOPS_IMAGE_PREDICTOR")
    if not (trainer and predictor and e2e_cluster.nodes.oci is not None):
        pytest.fail(
            "the built images are needed: run `bash scripts/build-images.sh` and export its "
            "STOCKOPS_IMAGE_* and STOCKOPS_CONTAINERS_CONF lines (make test does)"
        )
    h = harness
    operator = start_operator(e2e_namespace, STOCKOPS_DATA_SOURCE=served_csv)
    api = h.Api(e2e_cluster, e2e_namespace)
    manifests = _example(repo_root, "parentmodel-gspc.yaml", {"trainer": trainer})
    manifests += "---\n" + _example(
        repo_root, "tickermodel-aapl.yaml", {"trainer": trainer, "predictor": predictor}
    )
    e2e_cluster.kubectl_run("apply", "-n", e2e_namespace, "-f", "-", input=manifests)

    def show() -> str:
        pods = api.core.list_namespaced_pod(e2e_namespace).items
        return "\n".join(f"{p.metadata.name} on {p.spec.node_name}: {p.status.phase}" for p in pods)

    child = h.wait_for(
        "TickerModel aapl Ready",
        h.phase_is(api, "TickerModel", "aapl", "Ready", "Failed"),
        timeout=h.TRAIN_TIMEOUT,
        operator=operator,
        describe=show,
    )
    assert child["status"]["phase"] == "Ready", json.dumps(child["status"], indent=1)
    pods = api.core.list_namespaced_pod(e2e_namespace).items
    assert pods and {p.spec.node_name for p in pods} == {"stockops-oci"}, show()
    images = {c.image for p in pods for c in p.spec.containers}
    assert images == {trainer, predictor}, images

    # The served version answers through its URL, from the predictor image's container.
    status = child["status"]
    request = urllib.request.Request(
        f"{status['inference']['address']}/v1/models/{status['mlflow']['modelName']}:predict",
        data=json.dumps({"instances": [{"ticker": "AAPL", "days": 3}]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with e2e_cluster.urlopen(request, timeout=120) as response:
        answer = json.loads(response.read())["predictions"][0]
    assert answer["model_version"] == status["mlflow"]["servingVersion"] and len(answer["forecast"]) == 3

    # ... and that container runs as the pod says: its uid, a read-only root, no capabilities.
    [serving] = [p for p in pods if p.status.phase == "Running"]
    spec = next(c for c in serving.spec.containers if c.image == predictor)
    oci = e2e_cluster.nodes.oci
    name = node_agent._oci.container_name(
        e2e_namespace, serving.metadata.name, spec.name, serving.metadata.uid
    )

    def inside(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [oci.podman, "exec", name, *command], env=dict(oci.client_env), capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip

    uid = serving.spec.security_context.run_as_user or spec.security_context.run_as_user
    assert inside("id", "-u").stdout.strip() == str(uid)
    refused = inside("sh", "-c", "echo x > /opt/written")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr, refused
    assert inside("sh", "-c", "grep CapEff /proc/self/status").stdout.split()[-1] == "0000000000000000"
