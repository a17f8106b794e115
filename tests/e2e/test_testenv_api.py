"""Proof that the e2e API server is a real one: schema and CEL validation, printer columns, RBAC,
watch, server-side dry run and /version, each checked against the server's own answers.

Uses a CRD of its own (group testenv.stockops.io), so it proves the environment, not our CRDs.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes import watch as k8s_watch

pytestmark = pytest.mark.e2e

GROUP = "testenv.stockops.io"
WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wdg"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1},
                                    "color": {"type": "string", "enum": ["red", "blue"]},
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.size <= 10 || self.color == 'red'",
                                        "message": "only red widgets may be larger than 10",
                                    }
                                ],
                            },
                            "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
                        },
                    }
                },
            }
        ],
    },
}


def widget(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}


@pytest.fixture(scope="module")
def widget_crd(e2e_cluster: Any) -> Iterator[str]:
    ext = k8s_client.ApiextensionsV1Api(e2e_cluster.admin)
    name = WIDGET_CRD["metadata"]["name"]
    try:
        ext.create_custom_resource_definition(WIDGET_CRD)
    except k8s_client.ApiException as exc:
        if exc.status != 409:
            raise
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        crd = ext.read_custom_resource_definition(name)
        if any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or []):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"CRD {name} not Established within 30s")
    yield name
    ext.delete_custom_resource_definition(name)


def custom(e2e_cluster: Any) -> k8s_client.CustomObjectsApi:
    return k8s_client.CustomObjectsApi(e2e_cluster.admin)


def test_crd_schema_and_cel_reject_invalid_objects_with_the_servers_message(
    e2e_cluster: Any, widget_crd: str, e2e_namespace: str
) -> None:
    api = custom(e2e_cluster)
    with pytest.raises(k8s_client.ApiException) as schema_error:
        api.create_namespaced_custom_object(
            GROUP, "v1", e2e_namespace, "widgets", widget("bad", size=0, color="green")
        )
    assert schema_error.value.status == 422
    body = json.loads(schema_error.value.body)
    assert body["reason"] == "Invalid"
    assert 'spec.color: Unsupported value: "green": supported values: "red", "blue"' in body["message"]
    assert (
        "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"
        in body["message"]
    )
    causes = {c["field"]: c["reason"] for c in body["details"]["causes"]}
    assert causes["spec.color"] == "FieldValueNotSupported"
    assert causes["spec.size"] == "FieldValueInvalid"
    # The server skips CEL rules on an object that already failed the schema, and says so.
    assert "some validation rules were not checked because the object was invalid" in body["message"]

    with pytest.raises(k8s_client.ApiException) as cel_error:
        api.create_namespaced_custom_object(
            GROUP, "v1", e2e_namespace, "widgets", widget("big", size=11, color="blue")
        )
    assert cel_error.value.status == 422
    assert (
        "spec: Invalid value: only red widgets may be larger than 10"
        in json.loads(cel_error.value.body)["message"]
    )

    with pytest.raises(k8s_client.ApiException) as missing:
        api.create_namespaced_custom_object(
            GROUP, "v1", e2e_namespace, "widgets", widget("empty", color="red")
        )
    assert "spec.size: Required value" in json.loads(missing.value.body)["message"]

    created = api.create_namespaced_custom_object(
        GROUP, "v1", e2e_namespace, "widgets", widget("ok", size=11, color="red")
    )
    assert created["metadata"]["uid"]


def test_status_subresource_ignores_status_on_create_and_spec_on_status_update(
    e2e_cluster: Any, widget_crd: str, e2e_namespace: str
) -> None:
    api = custom(e2e_cluster)
    body = widget("st", size=2)
    body["status"] = {"phase": "Ready"}
    created = api.create_namespaced_custom_object(GROUP, "v1", e2e_namespace, "widgets", body)
    assert "status" not in created  # the main resource drops status when the subresource is on
    patched = api.patch_namespaced_custom_object_status(
        GROUP, "v1", e2e_namespace, "widgets", "st", {"status": {"phase": "Ready"}, "spec": {"size": 5}}
    )
    assert patched["status"] == {"phase": "Ready"}
    assert patched["spec"]["size"] == 2
    assert patched["metadata"]["generation"] == 1  # a status write does not bump generation


def test_kubectl_get_shows_printer_columns(e2e_cluster: Any, widget_crd: str, e2e_namespace: str) -> None:
    api = custom(e2e_cluster)
    api.create_namespaced_custom_object(
        GROUP, "v1", e2e_namespace, "widgets", widget("w1", size=3, color="blue")
    )
    api.patch_namespaced_custom_object_status(
        GROUP, "v1", e2e_namespace, "widgets", "w1", {"status": {"phase": "Built"}}
    )
    out = e2e_cluster.kubectl_run("get", "wdg", "-n", e2e_namespace).stdout.splitlines()
    assert out[0].split() == ["NAME", "SIZE", "COLOR", "PHASE", "AGE"]
    assert out[1].split()[:4] == ["w1", "3", "blue", "Built"]


def test_restricted_user_is_forbidden_outside_its_role(e2e_cluster: Any, e2e_namespace: str) -> None:
    admin_rbac = k8s_client.RbacAuthorizationV1Api(e2e_cluster.admin)
    admin_rbac.create_namespaced_role(
        e2e_namespace,
        {
            "metadata": {"name": "read-configmaps"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        },
    )
    admin_rbac.create_namespaced_role_binding(
        e2e_namespace,
        {
            "metadata": {"name": "restricted-reads-configmaps"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-configmaps"},
            "subjects": [e2e_cluster.restricted.subject],
        },
    )
    core = k8s_client.CoreV1Api(e2e_cluster.restricted.api)
    deadline = time.monotonic() + 15  # the RBAC authorizer reads bindings through an informer
    while True:
        try:
            core.list_namespaced_config_map(e2e_namespace)
            break
        except k8s_client.ApiException as exc:
            if exc.status != 403 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)

    with pytest.raises(k8s_client.ApiException) as secrets:
        core.list_namespaced_secret(e2e_namespace)
    assert secrets.value.status == 403
    message = json.loads(secrets.value.body)["message"]
    assert 'cannot list resource "secrets" in API group "" in the namespace' in message
    if e2e_cluster.local:
        assert message.startswith('secrets is forbidden: User "restricted"')

    with pytest.raises(k8s_client.ApiException) as other_ns:
        core.list_namespaced_config_map("default")
    assert other_ns.value.status == 403
    with pytest.raises(k8s_client.ApiException) as write:
        core.create_namespaced_config_map(e2e_namespace, {"metadata": {"name": "nope"}})
    assert write.value.status == 403

    denied = e2e_cluster.kubectl_run(
        "auth", "can-i", "delete", "configmaps", "-n", e2e_namespace, user=e2e_cluster.restricted, check=False
    )
    assert denied.stdout.strip() == "no"
    allowed = e2e_cluster.kubectl_run(
        "auth", "can-i", "list", "configmaps", "-n", e2e_namespace, user=e2e_cluster.restricted, check=False
    )
    assert allowed.stdout.strip() == "yes"


def test_watch_delivers_added_modified_deleted(e2e_cluster: Any, e2e_namespace: str) -> None:
    core = k8s_client.CoreV1Api(e2e_cluster.admin)
    name = f"watched-{uuid.uuid4().hex[:6]}"
    start_rv = core.list_namespaced_config_map(e2e_namespace).metadata.resource_version
    events: list[tuple[str, str | None]] = []
    done = threading.Event()

    def consume() -> None:
        w = k8s_watch.Watch()
        for event in w.stream(
            core.list_namespaced_config_map,
            e2e_namespace,
            resource_version=start_rv,
            field_selector=f"metadata.name={name}",
            timeout_seconds=30,
        ):
            obj = event["object"]
            events.append((event["type"], (obj.data or {}).get("v")))
            if event["type"] == "DELETED":
                w.stop()
        done.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    core.create_namespaced_config_map(e2e_namespace, {"metadata": {"name": name}, "data": {"v": "1"}})
    core.patch_namespaced_config_map(name, e2e_namespace, {"data": {"v": "2"}})
    core.delete_namespaced_config_map(name, e2e_namespace)
    assert done.wait(30), f"watch did not see the deletion; events so far: {events}"
    assert events == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]


def test_kubectl_apply_dry_run_server_validates_without_persisting(
    e2e_cluster: Any, widget_crd: str, e2e_namespace: str, tmp_path: Path
) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(widget("dry", size=4, color="red")))
    result = e2e_cluster.kubectl_run("apply", "--dry-run=server", "-n", e2e_namespace, "-f", str(good))
    assert result.stdout.strip() == f"widget.{GROUP}/dry created (server dry run)"
    absent = e2e_cluster.kubectl_run("get", "widget", "dry", "-n", e2e_namespace, check=False)
    assert absent.returncode != 0
    assert 'widgets.testenv.stockops.io "dry" not found' in absent.stderr

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(widget("dry", size=40, color="blue")))
    rejected = e2e_cluster.kubectl_run(
        "apply", "--dry-run=server", "-n", e2e_namespace, "-f", str(bad), check=False
    )
    assert rejected.returncode != 0
    assert "only red widgets may be larger than 10" in rejected.stderr


def test_version_endpoint_reports_a_kubernetes_release(e2e_cluster: Any, repo_root: Path) -> None:
    info = k8s_client.VersionApi(e2e_cluster.admin).get_code()
    assert info.major == "1"
    assert int(info.minor.rstrip("+")) >= 35
    if e2e_cluster.local:
        pinned = next(
            line.split()[1]
            for line in (repo_root / "tests/e2e/testenv/go.mod").read_text().splitlines()
            if line.strip().startswith("k8s.io/kubernetes v")
        )
        assert info.git_version == pinned
        assert info.minor == pinned.split(".")[1]
