#!/usr/bin/env bash
# CI step before the e2e tier: make sure the test API server, kubectl, helm and the KServe controller
# manager (with its CRDs and config) are in the cache.
# Idempotent: with an unchanged tests/e2e/testenv (go.mod, go.sum, *.go) and tests/e2e/kserve (go.mod,
# go.sum) it finds everything cached and returns in about a second. Keep these directories between CI
# runs to stay warm:
#   ${XDG_CACHE_HOME:-~/.cache}/stockops/{testenv,go-mod,go-build}
#
#   scripts/ci-e2e-prereqs.sh [--no-helm]
#
# Prints KEY=VALUE lines (STOCKOPS_TESTENV_BIN, STOCKOPS_KUBECTL, STOCKOPS_HELM, STOCKOPS_KSERVE_DIR)
# that can be exported so the e2e fixtures skip the build script entirely.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$REPO_ROOT/scripts/build-testenv.sh"
WITH_HELM=1
[[ "${1:-}" == "--no-helm" ]] && WITH_HELM=0

start=$(date +%s)
testenv="$("$BUILD" testenv)"
kubectl="$("$BUILD" kubectl)"
echo "STOCKOPS_TESTENV_BIN=$testenv"
echo "STOCKOPS_KUBECTL=$kubectl"
if [[ $WITH_HELM == 1 ]]; then
  helm="$("$BUILD" helm)"
  echo "STOCKOPS_HELM=$helm"
fi
kserve="$("$BUILD" kserve)"
echo "STOCKOPS_KSERVE_DIR=$kserve"
[[ -x "$kserve/bin/manager" ]] || { echo "ci-e2e-prereqs: $kserve/bin/manager is not executable" >&2; exit 1; }
[[ -x "$testenv" ]] || { echo "ci-e2e-prereqs: $testenv is not executable" >&2; exit 1; }
echo "ci-e2e-prereqs: ready in $(( $(date +%s) - start ))s" >&2
