"""The chart ships generated copies of the CRDs and the operator's RBAC, never hand-edited ones.

Helm reads only files inside the chart, so charts/stockops/crds/ and charts/stockops/files/
operator-rbac.yaml are copies, written by scripts/sync-chart.sh with the same generators as crds/ and
deploy/rbac/operator.yaml. These tests fail on any byte of difference, and show that the script both
detects and repairs drift.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from stockops.crd.generate import rendered_files
from stockops.operator.rbac import render


def _chart(repo_root: Path) -> Path:
    return repo_root / "charts" / "stockops"


def test_chart_crds_are_exactly_the_generated_crds(repo_root: Path) -> None:
    chart_crds = {p.name: p.read_text() for p in (_chart(repo_root) / "crds").glob("*.yaml")}
    generated = rendered_files()
    assert sorted(chart_crds) == sorted(generated), "run scripts/sync-chart.sh"
    for name, text in generated.items():
        assert chart_crds[name] == text, f"charts/stockops/crds/{name} is stale: run scripts/sync-chart.sh"
        assert chart_crds[name] == (repo_root / "crds" / name).read_text()


def test_chart_rbac_file_is_exactly_the_generated_rbac(repo_root: Path) -> None:
    chart_rbac = (_chart(repo_root) / "files" / "operator-rbac.yaml").read_text()
    assert chart_rbac == render(), (
        "charts/stockops/files/operator-rbac.yaml is stale: run scripts/sync-chart.sh"
    )
    assert chart_rbac == (repo_root / "deploy" / "rbac" / "operator.yaml").read_text()


def test_sync_script_reports_then_repairs_drift(repo_root: Path, tmp_path: Path) -> None:
    chart = tmp_path / "stockops"
    shutil.copytree(_chart(repo_root), chart)
    crd = chart / "crds" / "stockops.io_tickermodels.yaml"
    crd.write_text(crd.read_text().replace("shortNames", "shortNamez"))
    rbac = chart / "files" / "operator-rbac.yaml"
    rbac.write_text(rbac.read_text().replace("- delete\n", "- deletecollection\n", 1))
    leftover = chart / "crds" / "stockops.io_retired.yaml"
    leftover.write_text("kind: CustomResourceDefinition\n")
    script = repo_root / "scripts" / "sync-chart.sh"
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "STOCKOPS_CHART_DIR": str(chart)}

    checked = subprocess.run([script, "--check"], env=env, capture_output=True, text=True, check=False)
    assert checked.returncode == 1
    for path in (crd, rbac, leftover):
        assert str(path) in checked.stderr
    assert "shortNamez" in crd.read_text(), "--check must not write"

    synced = subprocess.run([script], env=env, capture_output=True, text=True, check=False)
    assert synced.returncode == 0, synced.stderr
    assert crd.read_text() == rendered_files()[crd.name]
    assert rbac.read_text() == render()
    assert not leftover.exists()
    assert subprocess.run([script, "--check"], env=env, capture_output=True, check=False).returncode == 0
