#!/usr/bin/env bash
# Runs the e2e suite on a kind cluster: the same tests as the local test API server, but with a real
# kubelet, Job controller, garbage collector and KServe (Standard / raw-deployment mode).
#
#   tests/e2e/kind/run.sh [--keep] [pytest args...]
#
# Steps: create the kind cluster (tests/e2e/kind/cluster.yaml) unless it exists; build our images
# (images/trainer, images/predictor, images/agent, images/gateway, operator/) and `kind load docker-image` them;
# install cert-manager, KServe CRDs + controller in Standard mode, and our chart (charts/stockops);
# run `pytest tests/e2e` with STOCKOPS_E2E_CLUSTER=external; delete the cluster unless --keep.
#
# Needs: docker, kind, kubectl, helm (scripts/build-testenv.sh helm builds one), python with the dev
# extras. It cannot run on a machine without a Docker engine (see README.md here).
#
# Environment (optional): KIND_CLUSTER (stockops-e2e), IMAGE_TAG (e2e), CERT_MANAGER_VERSION,
# KSERVE_VERSION, PYTHON (.venv/bin/python), STOCKOPS_E2E_NAMESPACE (stockops-system), CHART_ARGS
# (helm flags for our chart; default sets image.tag and image.pullPolicy).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
KIND_DIR="$REPO_ROOT/tests/e2e/kind"
CLUSTER="${KIND_CLUSTER:-stockops-e2e}"
TAG="${IMAGE_TAG:-e2e}"
CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-v1.17.0}"
KSERVE_VERSION="${KSERVE_VERSION:-v0.17.0}"
PYTHON="${PYTHON:-$REPO_ROOT/.venv/bin/python}"
SYSTEM_NS="${STOCKOPS_E2E_NAMESPACE:-stockops-system}"
KEEP=0
if [[ "${1:-}" == "--keep" ]]; then KEEP=1; shift; fi

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'kind/run.sh: error: %s\n' "$*" >&2; exit 1; }

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH"
done
docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed); kind needs one"
HELM="$(command -v helm || "$REPO_ROOT/scripts/build-testenv.sh" helm)"
KUBECONFIG_FILE="$(mktemp -t stockops-kind-kubeconfig.XXXXXX)"
export KUBECONFIG="$KUBECONFIG_FILE"

cleanup() {
  local code=$?
  if [[ $KEEP == 0 ]]; then
    log "deleting kind cluster $CLUSTER"
    kind delete cluster --name "$CLUSTER" || true
    rm -f "$KUBECONFIG_FILE"
  else
    log "kept cluster $CLUSTER; KUBECONFIG=$KUBECONFIG_FILE"
  fi
  exit $code
}
trap cleanup EXIT

log "kind cluster $CLUSTER"
if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --config "$KIND_DIR/cluster.yaml" --wait 180s
fi
kind get kubeconfig --name "$CLUSTER" > "$KUBECONFIG_FILE"

log "building and loading images (tag $TAG)"
declare -A IMAGES=(
  [stockops/trainer]="images/trainer/Dockerfile"
  [stockops/predictor]="images/predictor/Dockerfile"
  [stockops/agent]="images/agent/Dockerfile"
  [stockops/gateway]="images/gateway/Dockerfile"
  [stockops/operator]="operator/Dockerfile"
)
# One torch index for the three torch images, so their identical first layers are built and stored once.
TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
for image in "${!IMAGES[@]}"; do
  dockerfile="$REPO_ROOT/${IMAGES[$image]}"
  [[ -f "$dockerfile" ]] || die "$dockerfile is missing; it builds $image"
  docker build -f "$dockerfile" --build-arg TORCH_INDEX_URL="$TORCH_INDEX_URL" -t "$image:$TAG" "$REPO_ROOT"
  kind load docker-image --name "$CLUSTER" "$image:$TAG"
done

log "cert-manager $CERT_MANAGER_VERSION"
kubectl apply --server-side -f \
  "https://github.com/cert-manager/cert-manager/releases/download/$CERT_MANAGER_VERSION/cert-manager.yaml"
kubectl -n cert-manager wait --for=condition=Available deployment --all --timeout=300s

log "KServe $KSERVE_VERSION (Standard deployment mode, no ingress)"
"$HELM" upgrade --install kserve-crd oci://ghcr.io/kserve/charts/kserve-crd \
  --version "$KSERVE_VERSION" --namespace kserve --create-namespace --wait
"$HELM" upgrade --install kserve oci://ghcr.io/kserve/charts/kserve \
  --version "$KSERVE_VERSION" --namespace kserve --create-namespace --wait --timeout 10m \
  --set kserve.controller.deploymentMode=Standard \
  --set kserve.controller.gateway.disableIngressCreation=true
kubectl -n kserve wait --for=condition=Available deployment --all --timeout=300s

log "StockOps chart"
CHART="$REPO_ROOT/charts/stockops"
[[ -f "$CHART/Chart.yaml" ]] || die "$CHART/Chart.yaml is missing; the chart installs our CRDs, operator and RBAC"
# The chart's image values; override with CHART_ARGS if the chart names them differently.
read -r -a chart_args <<< "${CHART_ARGS:---set image.tag=$TAG --set image.pullPolicy=IfNotPresent}"
"$HELM" upgrade --install stockops "$CHART" --namespace "$SYSTEM_NS" --create-namespace --wait --timeout 5m \
  "${chart_args[@]}"
kubectl wait --for=condition=Established crd --all --timeout=60s

log "pytest tests/e2e against kind"
cd "$REPO_ROOT"
STOCKOPS_E2E_CLUSTER=external KUBECONFIG="$KUBECONFIG_FILE" STOCKOPS_E2E_IMAGE_TAG="$TAG" \
  "$PYTHON" -m pytest tests/e2e -q "$@"
