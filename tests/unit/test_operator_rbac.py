"""RBAC is defined once (stockops.operator.rbac) and rendered to deploy/rbac/operator.yaml."""

from __future__ import annotations

from pathlib import Path

import yaml

from stockops.operator.rbac import OPERATOR_RULES, render


def test_committed_rbac_matches_the_rules(repo_root: Path) -> None:
    path = repo_root / "deploy" / "rbac" / "operator.yaml"
    assert path.read_text() == render(), "stale: run `python -m stockops.operator.rbac`"


def test_rules_are_least_privilege() -> None:
    verbs = {
        (g, r): set(rule["verbs"])
        for rule in OPERATOR_RULES
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }
    assert "*" not in {v for vs in verbs.values() for v in vs}
    assert verbs[("stockops.io", "tickermodels")] == {"get", "list", "watch", "patch"}  # never create/delete
    assert verbs[("stockops.io", "tickermodels/status")] == {"get", "patch"}
    assert verbs[("", "pods")] == {"get", "list"}
    assert not any(r == "secrets" for _, r in verbs)


def test_rendered_objects_bind_the_service_account() -> None:
    account, role, binding = yaml.safe_load_all(render("ops"))
    assert (account["kind"], account["metadata"]["namespace"]) == ("ServiceAccount", "ops")
    assert binding["roleRef"]["name"] == role["metadata"]["name"] == "stockops-operator"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "stockops-operator", "namespace": "ops"}
    ]
