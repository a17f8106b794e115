#!/usr/bin/env bash
# Runs the e2e suite on a kind cluster: the same tests as the local test API server, but with a real
# kubelet, Job controller, garbage collector and KServe (Standard / raw-deployment mode).
#
#   tests/e2e/kind/run.sh [--keep] [pytest args...]
#
# Steps: create the kind cluster (tests/e2e/kind/cluster.yaml) unless it exists; build our images
# (images/trainer, images/predictor, images/agent, images/gateway, operator/) and `kind load docker-image` them;
# install cert-manager, KServe CRDs + controller in Standard mode, and our chart (charts/stockops);
# serve an MLflow server and the CSV folder on this machine's address on the kind network (the pods
# cannot reach this machine's loopback or its files); run `pytest tests/e2e` with
# STOCKOPS_E2E_CLUSTER=external, the operator naming the loaded images by IMAGE_TAG; delete the
# cluster unless --keep.
#
# Needs: docker, kind, kubectl, helm (scripts/build-testenv.sh helm builds one), python with the dev
# extras. It cannot run on a machine without a Docker engine (see README.md here).
#
# Environment (optional): KIND_CLUSTER (stockops-e2e), IMAGE_TAG (e2e), CERT_MANAGER_VERSION,
# KSERVE_VERSION, PYTHON (.venv/bin/python), STOCKOPS_E2E_NAMESPACE (stockops-system), CHART_ARGS
# (helm flags for our chart; default sets image.tag and image.pullPolicy), STOCKOPS_TEST_DATA_DIR
# (the folder of <TICKER>.csv files; default ../shared/data/ohlcv beside the checkout).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
KIND_DIR="$REPO_ROOT/tests/e2e/kind"
CLUSTER="${KIND_CLUSTER:-stockops-e2e}"
TAG="${IMAGE_TAG:-e2e}"
CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-v1.17.0}"
KSERVE_VERSION="${KSERVE_VERSION:-v0.20.0}"  # the release the local test cluster builds
DATA_DIR="${STOCKOPS_TEST_DATA_DIR:-$REPO_ROOT/../shared/data/ohlcv}"
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

SERVERS=()
cleanup() {
  local code=$?
  for pid in "${SERVERS[@]}"; do kill "$pid" 2>/dev/null || true; done
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

log "MLflow and the CSV folder, on this machine's address on the kind network"
[[ -d "$DATA_DIR" ]] || die "no CSV folder at $DATA_DIR (set STOCKOPS_TEST_DATA_DIR)"
# Pods reach this machine at the kind network's gateway, never at its loopback.
HOST_IP="$(docker network inspect kind -f '{{range .IPAM.Config}}{{.Gateway}} {{end}}' | tr ' ' '\n' | grep -m1 '\.')"
[[ -n "$HOST_IP" ]] || die "no IPv4 gateway on the docker network 'kind'"
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'; }
MLFLOW_PORT="$(free_port)"; DATA_PORT="$(free_port)"
WORK="$(mktemp -d -t stockops-kind.XXXXXX)"
"$PYTHON" -m mlflow server --host "$HOST_IP" --port "$MLFLOW_PORT" --workers 1 \
  --backend-store-uri "sqlite:///$WORK/mlflow.db" --artifacts-destination "$WORK/artifacts" \
  --allowed-hosts "$HOST_IP:$MLFLOW_PORT" > "$WORK/mlflow.log" 2>&1 &
SERVERS+=("$!")
"$PYTHON" -m http.server --bind "$HOST_IP" --directory "$DATA_DIR" "$DATA_PORT" > "$WORK/data.log" 2>&1 &
SERVERS+=("$!")
for _ in $(seq 120); do curl -fsS "http://$HOST_IP:$MLFLOW_PORT/health" >/dev/null 2>&1 && break; sleep 1; done
curl -fsS "http://$HOST_IP:$MLFLOW_PORT/health" >/dev/null || die "mlflow server did not start: $(tail -5 "$WORK/mlflow.log")"

log "pytest tests/e2e against kind"
cd "$REPO_ROOT"
STOCKOPS_E2E_CLUSTER=external KUBECONFIG="$KUBECONFIG_FILE" STOCKOPS_E2E_IMAGE_TAG="$TAG" \
  STOCKOPS_E2E_MLFLOW_URI="http://$HOST_IP:$MLFLOW_PORT" \
  STOCKOPS_E2E_DATA_SOURCE="csv:http://$HOST_IP:$DATA_PORT" STOCKOPS_TEST_DATA_DIR="$DATA_DIR" \
  "$PYTHON" -m pytest tests/e2e -q "$@"
