#!/usr/bin/env bash
# Regenerates the chart's copies of the CRDs and the operator's RBAC from their one source:
#
#   scripts/sync-chart.sh            write charts/stockops/crds/*.yaml and files/operator-rbac.yaml
#   scripts/sync-chart.sh --check    only compare; exit 1 if the chart is stale
#
# Environment (optional): PYTHON (.venv/bin/python), STOCKOPS_CHART_DIR (charts/stockops).
#
# Why copies at all: Helm reads only files inside the chart directory (.Files.Get cannot reach
# ../../crds, and Argo CD refuses symlinks that leave the chart), so the chart carries generated
# copies. They are written by the same generators as crds/ and deploy/rbac/operator.yaml (the typed
# models in stockops.crd, OPERATOR_RULES in stockops.operator.rbac), never by hand, and
# tests/unit/test_chart_sources.py fails on any difference.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$REPO_ROOT/.venv/bin/python}"
CHART="${STOCKOPS_CHART_DIR:-$REPO_ROOT/charts/stockops}"
case "${1:-}" in
  "" | --check) ;;
  *) echo "usage: scripts/sync-chart.sh [--check]" >&2; exit 2 ;;
esac
[[ -f "$CHART/Chart.yaml" ]] || { echo "sync-chart: $CHART/Chart.yaml not found" >&2; exit 2; }

cd "$REPO_ROOT"
exec "$PYTHON" - "$CHART" "${1:-}" <<'PY'
import sys
from pathlib import Path

from stockops.crd.generate import rendered_files
from stockops.operator.rbac import render

chart, check = Path(sys.argv[1]), sys.argv[2] == "--check"
wanted = {chart / "crds" / name: text for name, text in rendered_files().items()}
wanted[chart / "files" / "operator-rbac.yaml"] = render()
stale = [p for p, text in wanted.items() if not p.is_file() or p.read_text() != text]
extra = [p for p in sorted((chart / "crds").glob("*.yaml")) if p not in wanted]  # CRDs no model defines
if check:
    for path in stale + extra:
        print(f"stale chart file {path}: run scripts/sync-chart.sh", file=sys.stderr)
    sys.exit(1 if stale or extra else 0)
for path in stale:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(wanted[path])
    print(f"wrote {path}")
for path in extra:
    path.unlink()
    print(f"removed {path}")
PY
