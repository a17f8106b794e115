"""The chart's alert rules, checked by the real Prometheus rule checker.

`promtool check rules` parses every rule (PromQL, durations, templates); `promtool test rules` runs
tests/alerts/stockops.test.yaml, whose input series fire each alert and keep it silent (a healthy
neighbour, the wrong side of a threshold, a breach shorter than `for`), comparing labels and expanded
annotations exactly. Both run on files/alerts.yaml and on the rules as the chart renders them, so the
PrometheusRule's fromYaml/toYaml round trip cannot change what was tested.

promtool comes from scripts/build-monitoring-tools.sh (built from the Prometheus Go module into a
cache); scripts/test.sh exports STOCKOPS_PROMTOOL. Without it the fixture runs the script itself (a
cold build takes minutes), so a missing promtool fails the tests instead of skipping them. Each check
is also shown to fail on a broken copy, so a green run means promtool really judged the rules.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stockops.devcluster import DevClusterError, build_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "charts" / "stockops"
RULES = CHART / "files" / "alerts.yaml"
RULE_TESTS = REPO_ROOT / "tests" / "alerts" / "stockops.test.yaml"


@pytest.fixture(scope="module")
def promtool() -> Path:
    path = os.environ.get("STOCKOPS_PROMTOOL", "")
    if not path:
        script = REPO_ROOT / "scripts" / "build-monitoring-tools.sh"
        result = subprocess.run(
            ["bash", str(script), "promtool"], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            pytest.fail(f"scripts/build-monitoring-tools.sh promtool failed:\n{result.stderr[-3000:]}")
        path = next(
            (
                line.partition("=")[2]
                for line in result.stdout.splitlines()
                if line.startswith("STOCKOPS_PROMTOOL=")
            ),
            "",
        )
    if not (path and os.access(path, os.X_OK)):
        pytest.fail(f"promtool is not executable at {path!r}: run scripts/build-monitoring-tools.sh")
    return Path(path)


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False, timeout=300
    )


def rule_tests_for(rules: Path, tmp: Path) -> Path:
    """tests/alerts/stockops.test.yaml pointed at another rule file."""
    tests = yaml.safe_load(RULE_TESTS.read_text())
    tests["rule_files"] = [str(rules)]
    path = tmp / "stockops.test.yaml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    return path


def test_the_rule_file_passes_promtool_check_rules(promtool: Path) -> None:
    result = run(promtool, "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


def test_every_alert_fires_and_stays_silent_as_the_rule_tests_say(promtool: Path) -> None:
    result = run(promtool, "test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_test_that_fires_it() -> None:
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    fired = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    silent = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
        if not case["exp_alerts"]
    }
    assert fired == alerts and silent == alerts


def test_check_rules_rejects_broken_promql(promtool: Path, tmp_path: Path) -> None:
    broken = tmp_path / "alerts.yaml"
    broken.write_text(
        RULES.read_text().replace("sum by (kind) (stockops_operator_objects", "sum by (kind (x", 1)
    )
    result = run(promtool, "check", "rules", broken)
    assert result.returncode != 0 and "FAILED" in result.stderr + result.stdout


def test_rule_tests_fail_when_a_threshold_moves(promtool: Path, tmp_path: Path) -> None:
    moved = tmp_path / "alerts.yaml"
    text = RULES.read_text()
    assert "> 0.05" in text
    moved.write_text(text.replace("> 0.05", "> 0.5"))  # 14 % of 5xx would no longer fire
    result = run(promtool, "test", "rules", rule_tests_for(moved, tmp_path))
    assert result.returncode != 0
    assert "StockOpsPredictorErrorRate" in result.stdout + result.stderr


@pytest.fixture(scope="module")
def rendered_rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """spec.groups of the PrometheusRule the chart renders, as a Prometheus rule file."""
    try:
        helm = build_tool(REPO_ROOT, "helm")
    except DevClusterError as exc:
        pytest.fail(f"no helm to render the chart with: {exc}")
    tmp = tmp_path_factory.mktemp("rendered")
    values = tmp / "values.yaml"
    values.write_text(yaml.safe_dump({"monitoring": {"alerts": {"enabled": True}}}))
    env = {**os.environ, "HELM_CACHE_HOME": str(tmp / "c"), "HELM_CONFIG_HOME": str(tmp / "g")}
    env["HELM_DATA_HOME"] = str(tmp / "d")
    env.pop("KUBECONFIG", None)
    command = [str(helm), "template", "stockops", str(CHART), "-f", str(values)]
    command += ["-s", "templates/prometheusrule.yaml"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 0, done.stderr
    (rule,) = [d for d in yaml.safe_load_all(done.stdout) if d]
    path = tmp / "rendered-alerts.yaml"
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def test_the_rendered_prometheus_rule_passes_the_same_checks(
    promtool: Path, rendered_rules: Path, tmp_path: Path
) -> None:
    check = run(promtool, "check", "rules", rendered_rules)
    assert check.returncode == 0 and "SUCCESS: 6 rules found" in check.stdout, check.stdout + check.stderr
    result = run(promtool, "test", "rules", rule_tests_for(rendered_rules, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
