"""The service proxy's routing rules (pure) and, on the session's cluster, its refusals.

The proxy stands in for cluster DNS and kube-proxy (see service_proxy.py); what it must never do is
reach something a cluster would not: a pod that is not Ready, a Service port that does not exist, a
host no Service or InferenceService names.
"""

from __future__ import annotations

import urllib.error
import uuid
from types import ModuleType
from typing import Any

import pytest
from kubernetes import client as k8s_client

pytestmark = pytest.mark.e2e


def _pod(name: str, ip: str, *, ready: bool = True, labels: dict[str, str] | None = None, **meta: Any) -> Any:
    return {
        "metadata": {"name": name, "labels": labels or {"app": "p"}, **meta},
        "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


SERVICE = {"spec": {"selector": {"app": "p"}, "ports": [{"port": 80, "targetPort": "http"}]}}


def test_service_names_in_every_cluster_dns_form(service_proxy: ModuleType) -> None:
    name = service_proxy.service_name
    assert name("aapl-predictor.team.svc.cluster.local") == ("aapl-predictor", "team")
    assert name("aapl-predictor.team.svc") == ("aapl-predictor", "team")
    assert name("aapl-predictor.team") is None  # a search-path short form needs a pod's resolv.conf
    assert name("aapl-team.example.com") is None
    assert name("a.b.c.svc.cluster.local") is None


def test_only_ready_live_pods_matching_the_selector_are_endpoints(service_proxy: ModuleType) -> None:
    pods = [
        _pod("ready", "127.1.0.2"),
        _pod("not-ready", "127.1.0.3", ready=False),
        _pod("terminating", "127.1.0.4", deletionTimestamp="2026-01-01T00:00:00Z"),
        _pod("other", "127.1.0.5", labels={"app": "q"}),
        {**_pod("no-ip", ""), "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
    ]
    assert service_proxy.endpoints(SERVICE, pods, 80) == [("127.1.0.2", 8080)]  # named targetPort
    assert service_proxy.endpoints(SERVICE, pods, 8080) == []  # not a port of the Service
    numeric = {"spec": {"selector": {"app": "p"}, "ports": [{"port": 80, "targetPort": 9000}]}}
    assert service_proxy.endpoints(numeric, pods, 80) == [("127.1.0.2", 9000)]
    headless_selectorless = {"spec": {"ports": [{"port": 80}]}}
    assert service_proxy.endpoints(headless_selectorless, pods, 80) == []


def test_unknown_hosts_and_services_without_ready_pods_are_refused(
    e2e_cluster: Any, e2e_namespace: str
) -> None:
    if not e2e_cluster.local:
        pytest.skip("the proxy exists on the local test cluster only")
    core = k8s_client.CoreV1Api(e2e_cluster.admin)
    core.create_namespaced_service(
        e2e_namespace,
        {"metadata": {"name": "idle"}, "spec": {"selector": {"app": "idle"}, "ports": [{"port": 80}]}},
    )
    cases = {
        f"http://idle.{e2e_namespace}.svc.cluster.local/": (503, "has no ready endpoint"),
        f"http://missing-{uuid.uuid4().hex[:6]}.{e2e_namespace}.svc.cluster.local/": (502, "no Service"),
        "http://nowhere.example.com/": (502, "no such host"),
    }
    for url, (code, text) in cases.items():
        with pytest.raises(urllib.error.HTTPError) as refused:
            e2e_cluster.urlopen(url, timeout=10)
        assert refused.value.code == code, url
        assert text in refused.value.read().decode(), url
