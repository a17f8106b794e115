#!/usr/bin/env bash
# Builds the tools the e2e tier needs into a cache, once, and prints their absolute paths.
#
#   scripts/build-testenv.sh [testenv|kubectl|helm|kserve|all]...   (default: testenv)
#   scripts/build-testenv.sh --print-dir                      (cache dir of this testenv, no build)
#
# `kserve` prints a directory, not a binary: the real KServe controller manager built from kserve's Go
# module (tests/e2e/kserve/go.mod) as bin/manager, beside that module version's CRDs (crd/), config map
# (configmap/inferenceservice.yaml) and webhook configurations (webhook/manifests.yaml); see
# tests/e2e/kserve/README.md.
#
# Why a cache keyed by content: kube-apiserver is a large Go program (a cold build takes many minutes on
# two cores). The binary depends only on go.mod, go.sum and our *.go files, so their hash names the
# directory (kubectl's: go.mod and go.sum only); an unchanged checkout finds the binaries at once, a
# changed one builds beside the old.
#
# Environment (all optional):
#   STOCKOPS_TESTENV_CACHE   cache root (default ${XDG_CACHE_HOME:-~/.cache}/stockops/testenv)
#   GOMODCACHE, GOCACHE      Go caches (default under ${XDG_CACHE_HOME:-~/.cache}/stockops/), so CI can
#                            keep one directory between runs
#   STOCKOPS_BUILD_JOBS      parallel compile jobs (default 2: other work shares the machine)
#   STOCKOPS_BUILD_NICE      nice level of the build (default 10)
#   STOCKOPS_BUILD_KUBECTL=1 build kubectl even if a usable one is on PATH (one within a minor version
#                            of the server is used, an older or newer one is not)
# Only paths go to stdout (one per requested tool); progress goes to stderr.
set -euo pipefail

HELM_VERSION="v3.22.0"
# Bump when the build recipe (flags, ldflags) changes, so old cache entries are not reused.
RECIPE="2"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULE_DIR="$REPO_ROOT/tests/e2e/testenv"
CACHE_BASE="${XDG_CACHE_HOME:-$HOME/.cache}/stockops"
CACHE_ROOT="${STOCKOPS_TESTENV_CACHE:-$CACHE_BASE/testenv}"
export GOMODCACHE="${GOMODCACHE:-$CACHE_BASE/go-mod}"
export GOCACHE="${GOCACHE:-$CACHE_BASE/go-build}"
export CGO_ENABLED=0
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="${GOFLAGS:-}"
JOBS="${STOCKOPS_BUILD_JOBS:-2}"
NICE="${STOCKOPS_BUILD_NICE:-10}"

log() { printf 'build-testenv: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Only needed when something must be built: a warm cache works without Go.
need_go() {
  command -v go >/dev/null 2>&1 || die "go is not on PATH; install Go >= $(awk '$1=="go"{print $2}' "$MODULE_DIR/go.mod")"
}

content_key() { # content_key <files...>: the cache key of a build from these module files
  (cd "$MODULE_DIR" && cat "$@" && echo "recipe=$RECIPE") | sha256sum | cut -c1-16
}

# The server depends on our Go files too; kubectl only on the module graph, so editing main.go does
# not rebuild kubectl.
KEY="$(cd "$MODULE_DIR" && content_key go.mod go.sum ./*.go)"
BIN_DIR="$CACHE_ROOT/$KEY/bin"
KUBECTL_KEY="$(content_key go.mod go.sum)"
KUBECTL_DIR="$CACHE_ROOT/kubectl-$KUBECTL_KEY"
KSERVE_MODULE_DIR="$REPO_ROOT/tests/e2e/kserve"
KSERVE_RECIPE="1"

# Version stamped into /version: the Kubernetes release this module pins, dated by that release, so
# the build is reproducible.
ldflags() {
  local info version time major minor rest pkg
  info="$(cd "$MODULE_DIR" && go list -m -f '{{.Version}} {{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)"
  version="${info%% *}"
  time="${info##* }"
  major="${version#v}"; major="${major%%.*}"
  rest="${version#v*.}"; minor="${rest%%.*}"
  pkg="k8s.io/component-base/version"
  printf '%s' "-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  printf '%s' " -X $pkg.gitTreeState=clean -X $pkg.gitCommit= -X $pkg.buildDate=$time"
}

go_build() { # go_build <output file> <package>
  local out="$1" pkg="$2" tmp start
  need_go
  tmp="$out.tmp.$$"
  start=$(date +%s)
  log "building $pkg -> $out (jobs=$JOBS, nice=$NICE; a cold build takes many minutes)"
  (cd "$MODULE_DIR" && nice -n "$NICE" go build -p "$JOBS" -mod=readonly -trimpath \
      -ldflags "$(ldflags)" -o "$tmp" "$pkg") || { rm -f "$tmp"; die "go build $pkg failed"; }
  mv -f "$tmp" "$out"
  log "built $pkg in $(( $(date +%s) - start ))s"
}

# Re-checks under the lock: a concurrent caller may have built it while we waited.
go_build_locked() { [[ -x "$1" ]] || go_build "$1" "$2"; }

with_lock() { # with_lock <name> <command...>: one build per cache entry at a time
  mkdir -p "$CACHE_ROOT"
  local lock="$CACHE_ROOT/.$1.lock"
  shift
  (
    flock 9
    "$@"
  ) 9>"$lock"
}

build_testenv() {
  local out="$BIN_DIR/stockops-testenv"
  if [[ ! -x "$out" ]]; then
    mkdir -p "$BIN_DIR"
    with_lock "$KEY" go_build_locked "$out" .
    prune_old_builds
  fi
  echo "$out"
}

# Each entry is ~120 MB; keep the newest three (other checkouts or branches may still use them).
prune_old_builds() {
  local old
  old="$(cd "$CACHE_ROOT" && ls -1td -- */ 2>/dev/null | grep -E '^[0-9a-f]{16}/$' | tail -n +4 || true)"
  for entry in $old; do
    log "pruning old build $CACHE_ROOT/$entry"
    rm -rf -- "${CACHE_ROOT:?}/$entry"
  done
}

# The machine's kubectl is used when it is within the supported skew (one minor version) of the
# Kubernetes release go.mod pins; otherwise output formats and behaviour may differ, so build one.
system_kubectl_ok() {
  local path="$1" pinned client
  pinned="$(awk '$1=="k8s.io/kubernetes" && $2 ~ /^v1\./ {split($2, v, "."); print v[2]; exit}' "$MODULE_DIR/go.mod")"
  client="$("$path" version --client -o json 2>/dev/null | sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p' | head -1)"
  [[ -n "$pinned" && -n "$client" ]] || return 1
  local skew=$(( client > pinned ? client - pinned : pinned - client ))
  if (( skew > 1 )); then
    log "$path is kubectl 1.$client, more than one minor version from the server (1.$pinned): using kubectl built from go.mod's release"
    return 1
  fi
}

build_kubectl() {
  local system
  system="$(command -v kubectl || true)"
  if [[ "${STOCKOPS_BUILD_KUBECTL:-0}" != "1" && -n "$system" ]] && system_kubectl_ok "$system"; then
    echo "$system"
    return
  fi
  local out="$KUBECTL_DIR/kubectl"
  if [[ ! -x "$out" ]]; then
    mkdir -p "$KUBECTL_DIR"
    with_lock "kubectl-$KUBECTL_KEY" go_build_locked "$out" k8s.io/kubernetes/cmd/kubectl
  fi
  echo "$out"
}

build_helm() {
  local dir="$CACHE_ROOT/tools/helm-$HELM_VERSION" out
  out="$dir/helm"
  if [[ ! -x "$out" ]]; then
    mkdir -p "$dir"
    with_lock "helm-$HELM_VERSION" install_helm "$dir"
  fi
  echo "$out"
}

install_helm() {
  local dir="$1" start
  [[ -x "$dir/helm" ]] && return
  need_go
  start=$(date +%s)
  log "installing helm.sh/helm/v3/cmd/helm@$HELM_VERSION -> $dir"
  # go install runs in module mode outside our module; it must not inherit our GOFLAGS.
  # The version stamp the release binaries carry (without it `helm version` says only "v3.22").
  (cd "$dir" && GOBIN="$dir" GOFLAGS= nice -n "$NICE" go install -p "$JOBS" -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION") || die "go install helm@$HELM_VERSION failed"
  log "installed helm in $(( $(date +%s) - start ))s"
}

# The KServe entry depends only on its wrapper module's go.mod and go.sum (they pin kserve and every
# dependency); the whole directory is assembled under a temp name and renamed, so a half-built one is
# never seen.
kserve_key() {
  (cd "$KSERVE_MODULE_DIR" && cat go.mod go.sum && echo "recipe=$KSERVE_RECIPE") | sha256sum | cut -c1-16
}

build_kserve() {
  local dir
  dir="$CACHE_ROOT/kserve-$(kserve_key)"
  if [[ ! -x "$dir/bin/manager" ]]; then
    with_lock "kserve-$(kserve_key)" assemble_kserve "$dir"
    prune_old_kserve
  fi
  echo "$dir"
}

# Each entry is ~85 MB; keep the newest two.
prune_old_kserve() {
  local old
  old="$(cd "$CACHE_ROOT" && ls -1td -- kserve-*/ 2>/dev/null | grep -E '^kserve-[0-9a-f]{16}/$' | tail -n +3 || true)"
  for entry in $old; do
    log "pruning old build $CACHE_ROOT/$entry"
    rm -rf -- "${CACHE_ROOT:?}/$entry"
  done
}

assemble_kserve() {
  local dir="$1" tmp start info version src
  [[ -x "$dir/bin/manager" ]] && return
  need_go
  start=$(date +%s)
  tmp="$dir.tmp.$$"
  rm -rf -- "$tmp"
  mkdir -p "$tmp/bin" "$tmp/configmap" "$tmp/webhook"
  # The module version go.mod pins, and its source in the module cache (CRDs and config live there).
  info="$(cd "$KSERVE_MODULE_DIR" && go mod download -json github.com/kserve/kserve)" \
    || { rm -rf -- "$tmp"; die "go mod download github.com/kserve/kserve failed"; }
  version="$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Version": "\(.*\)",$/\1/p' | head -1)"
  src="$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' | head -1)"
  [[ -n "$version" && -d "$src" ]] || { rm -rf -- "$tmp"; die "no module directory for github.com/kserve/kserve"; }
  log "building github.com/kserve/kserve/cmd/manager@$version -> $dir (jobs=$JOBS, nice=$NICE; a cold build takes many minutes)"
  (cd "$KSERVE_MODULE_DIR" && nice -n "$NICE" go build -p "$JOBS" -mod=readonly -trimpath -ldflags "-s -w" \
      -o "$tmp/bin/manager" github.com/kserve/kserve/cmd/manager) \
    || { rm -rf -- "$tmp"; die "go build github.com/kserve/kserve/cmd/manager failed"; }
  # The CRDs the manager serves or reads (InferenceService, ServingRuntime, ClusterServingRuntime,
  # TrainedModel, InferenceGraph, the local-model caches, ClusterStorageContainer), flat and without
  # kustomize files; LLMInferenceService has its own controller and conversion webhooks, so it is left out.
  mkdir -p "$tmp/crd"
  cp "$src"/config/crd/full/serving.kserve.io_*.yaml "$src"/config/crd/full/localmodel/serving.kserve.io_*.yaml \
     "$src"/config/crd/full/clusterstoragecontainer/serving.kserve.io_*.yaml "$tmp/crd/"
  cp "$src/config/configmap/inferenceservice.yaml" "$tmp/configmap/"
  cp "$src/config/webhook/manifests.yaml" "$tmp/webhook/"
  chmod -R u+w "$tmp"  # the module cache is read-only; the copies need not be
  echo "$version" > "$tmp/VERSION"
  rm -rf -- "$dir"
  mv "$tmp" "$dir"
  log "built kserve $version in $(( $(date +%s) - start ))s"
}

main() {
  local targets=("$@")
  [[ ${#targets[@]} -eq 0 ]] && targets=(testenv)
  for t in "${targets[@]}"; do
    case "$t" in
      --print-dir) echo "$BIN_DIR" ;;
      testenv) build_testenv ;;
      kubectl) build_kubectl ;;
      helm) build_helm ;;
      kserve) build_kserve ;;
      all) build_testenv; build_kubectl; build_helm; build_kserve ;;
      -h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) die "unknown target '$t' (expected testenv, kubectl, helm, kserve, all or --print-dir)" ;;
    esac
  done
}

main "$@"
