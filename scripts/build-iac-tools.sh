#!/usr/bin/env bash
# Builds the infrastructure-as-code checkers into a cache, once, and prints KEY=PATH lines.
#
#   scripts/build-iac-tools.sh [checkov|tflint|tofu|all]...   (default: all)
#
# Why these tools and why built here: the Terraform in terraform/eks/ cannot be planned without AWS, so
# tests check it statically with real tools that run offline. checkov (PyPI) pins its dependencies
# hard, so it gets its own venv instead of the project's. tflint and OpenTofu are Go programs built
# from the Go module proxy (no release downloads are reachable); a cold build takes minutes on two
# cores, so each lands under a directory keyed by its version (and, for tofu, the wrapper module's
# go.mod/go.sum) and a warm call returns at once. HashiCorp's terraform cannot be built this way (its
# go.mod replaces modules with local folders); OpenTofu has one replace (hcl/v2 -> its fork), which
# scripts/iac-tools/tofu/go.mod repeats, so `go build` of its cmd/tofu works where `go install` refuses.
#
# Environment (all optional):
#   STOCKOPS_IAC_CACHE     cache root (default ${XDG_CACHE_HOME:-~/.cache}/stockops/tools)
#   GOMODCACHE, GOCACHE    Go caches (default under ${XDG_CACHE_HOME:-~/.cache}/stockops/, shared with
#                          scripts/build-testenv.sh)
#   STOCKOPS_BUILD_JOBS    parallel compile jobs (default 1: other work shares the machine)
#   STOCKOPS_BUILD_NICE    nice level of the builds (default 10)
# Only KEY=PATH lines go to stdout (STOCKOPS_CHECKOV, STOCKOPS_TFLINT, STOCKOPS_TOFU); progress to stderr.
set -euo pipefail

CHECKOV_VERSION="3.3.30"
TFLINT_VERSION="v0.64.0"
TOFU_VERSION="v1.12.6" # must match the require in scripts/iac-tools/tofu/go.mod
# Bump when a build recipe (flags, ldflags) changes, so old cache entries are not reused.
RECIPE="2"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOFU_MODULE="$REPO_ROOT/scripts/iac-tools/tofu"
CACHE_BASE="${XDG_CACHE_HOME:-$HOME/.cache}/stockops"
CACHE_ROOT="${STOCKOPS_IAC_CACHE:-$CACHE_BASE/tools}"
export GOMODCACHE="${GOMODCACHE:-$CACHE_BASE/go-mod}"
export GOCACHE="${GOCACHE:-$CACHE_BASE/go-build}"
export CGO_ENABLED=0
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
JOBS="${STOCKOPS_BUILD_JOBS:-1}"
NICE="${STOCKOPS_BUILD_NICE:-10}"

log() { printf 'build-iac-tools: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
need_go() { command -v go >/dev/null 2>&1 || die "go is not on PATH (needed to build $1)"; }

with_lock() { # with_lock <name> <command...>: one build per cache entry at a time
  mkdir -p "$CACHE_ROOT"
  local lock="$CACHE_ROOT/.$1.lock"
  shift
  (
    flock 9
    "$@"
  ) 9>"$lock"
}

uv_cmd() {
  if command -v uv >/dev/null 2>&1; then echo uv
  elif [[ -x "$HOME/.local/bin/uv" ]]; then echo "$HOME/.local/bin/uv"
  else echo ""; fi
}

install_checkov() {
  local dir="$1" start uv python
  [[ -x "$dir/bin/checkov" ]] && return
  start=$(date +%s)
  uv="$(uv_cmd)"
  python="$(command -v python3.11 || command -v python3)"
  rm -rf "$dir"
  log "installing checkov==$CHECKOV_VERSION into its own venv $dir"
  if [[ -n "$uv" ]]; then
    "$uv" venv -q --python "$python" "$dir" >&2
    "$uv" pip install -q --python "$dir/bin/python" "checkov==$CHECKOV_VERSION" >&2
  else
    "$python" -m venv "$dir" >&2
    "$dir/bin/pip" install -q "checkov==$CHECKOV_VERSION" >&2
  fi
  log "installed checkov in $(( $(date +%s) - start ))s"
}

build_checkov() {
  local dir="$CACHE_ROOT/checkov-venv-$CHECKOV_VERSION"
  [[ -x "$dir/bin/checkov" ]] || with_lock "checkov-$CHECKOV_VERSION" install_checkov "$dir"
  echo "STOCKOPS_CHECKOV=$dir/bin/checkov"
}

install_tflint() {
  local dir="$1" start
  [[ -x "$dir/tflint" ]] && return
  need_go tflint
  start=$(date +%s)
  log "go install github.com/terraform-linters/tflint@$TFLINT_VERSION -> $dir (cold: several minutes)"
  # go install runs in module mode outside any module; it must not inherit a caller's GOFLAGS.
  (cd "$dir" && GOBIN="$dir" GOFLAGS= nice -n "$NICE" go install -p "$JOBS" -trimpath -ldflags "-s -w" \
      "github.com/terraform-linters/tflint@$TFLINT_VERSION") || die "go install tflint@$TFLINT_VERSION failed"
  log "built tflint in $(( $(date +%s) - start ))s"
}

build_tflint() {
  local dir="$CACHE_ROOT/tflint-$TFLINT_VERSION"
  mkdir -p "$dir"
  [[ -x "$dir/tflint" ]] || with_lock "tflint-$TFLINT_VERSION" install_tflint "$dir"
  echo "STOCKOPS_TFLINT=$dir/tflint"
}

install_tofu() {
  local dir="$1" start tmp
  [[ -x "$dir/tofu" ]] && return
  need_go tofu
  start=$(date +%s)
  tmp="$dir/tofu.tmp.$$"
  log "building github.com/opentofu/opentofu/cmd/tofu@$TOFU_VERSION -> $dir (cold: many minutes)"
  # version.dev=no: a release build's version string (as OpenTofu's goreleaser sets it), not "-dev".
  (cd "$TOFU_MODULE" && GOFLAGS= nice -n "$NICE" go build -p "$JOBS" -mod=readonly -trimpath \
      -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" \
      -o "$tmp" github.com/opentofu/opentofu/cmd/tofu) || { rm -f "$tmp"; die "go build tofu failed"; }
  mv -f "$tmp" "$dir/tofu"
  log "built tofu in $(( $(date +%s) - start ))s"
}

build_tofu() {
  local key dir
  grep -q "github.com/opentofu/opentofu $TOFU_VERSION" "$TOFU_MODULE/go.mod" \
    || die "scripts/iac-tools/tofu/go.mod does not require opentofu $TOFU_VERSION"
  key="$( (cat "$TOFU_MODULE/go.mod" "$TOFU_MODULE/go.sum"; echo "recipe=$RECIPE") | sha256sum | cut -c1-12)"
  dir="$CACHE_ROOT/tofu-$TOFU_VERSION-$key"
  mkdir -p "$dir"
  [[ -x "$dir/tofu" ]] || with_lock "tofu-$key" install_tofu "$dir"
  echo "STOCKOPS_TOFU=$dir/tofu"
}

main() {
  local targets=("$@") start
  [[ ${#targets[@]} -eq 0 ]] && targets=(all)
  start=$(date +%s)
  for t in "${targets[@]}"; do
    case "$t" in
      checkov) build_checkov ;;
      tflint) build_tflint ;;
      tofu) build_tofu ;;
      all) build_checkov; build_tflint; build_tofu ;;
      -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) die "unknown target '$t' (expected checkov, tflint, tofu or all)" ;;
    esac
  done
  log "ready in $(( $(date +%s) - start ))s"
}

main "$@"
