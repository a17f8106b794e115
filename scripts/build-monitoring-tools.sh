#!/usr/bin/env bash
# Builds the monitoring checkers into a cache, once, and prints KEY=PATH lines.
#
#   scripts/build-monitoring-tools.sh [promtool|all]...   (default: all)
#
# Why: the chart's alert rules (charts/stockops/files/alerts.yaml) are checked by the real Prometheus
# rule checker, `promtool check rules` and `promtool test rules` (unit-test series that fire and do not
# fire each alert), so a typo in PromQL or an alert that can never fire fails the tests. No release
# downloads are reachable here, so promtool is built from the Prometheus Go module (module versions
# v0.3MM.P are Prometheus 3.MM.P) through the Go module proxy. Its go.mod has no replace directives, so
# a plain `go install` works. A cold build takes a few minutes on two cores; it lands under a directory
# keyed by version and recipe and a warm call returns at once.
#
# Environment (all optional):
#   STOCKOPS_MONITORING_CACHE  cache root (default ${XDG_CACHE_HOME:-~/.cache}/stockops/tools)
#   GOMODCACHE, GOCACHE        Go caches (default under ${XDG_CACHE_HOME:-~/.cache}/stockops/, shared
#                              with scripts/build-testenv.sh and scripts/build-iac-tools.sh)
#   STOCKOPS_BUILD_JOBS        parallel compile jobs (default 1: other work shares the machine)
#   STOCKOPS_BUILD_NICE        nice level of the builds (default 10)
# Only KEY=PATH lines go to stdout (STOCKOPS_PROMTOOL); progress to stderr.
set -euo pipefail

PROMETHEUS_MODULE_VERSION="v0.316.0" # Prometheus 3.16.0
PROMETHEUS_VERSION="3.16.0"
# Bump when the build recipe (flags, ldflags) changes, so old cache entries are not reused.
RECIPE="1"

CACHE_BASE="${XDG_CACHE_HOME:-$HOME/.cache}/stockops"
CACHE_ROOT="${STOCKOPS_MONITORING_CACHE:-$CACHE_BASE/tools}"
export GOMODCACHE="${GOMODCACHE:-$CACHE_BASE/go-mod}"
export GOCACHE="${GOCACHE:-$CACHE_BASE/go-build}"
export CGO_ENABLED=0
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
JOBS="${STOCKOPS_BUILD_JOBS:-1}"
NICE="${STOCKOPS_BUILD_NICE:-10}"

log() { printf 'build-monitoring-tools: %s\n' "$*" >&2; }
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

install_promtool() {
  local dir="$1" start common=github.com/prometheus/common/version
  [[ -x "$dir/promtool" ]] && return # built by whoever held the lock before us
  need_go promtool
  start=$(date +%s)
  log "go install github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION -> $dir (cold: minutes)"
  # The version fields Prometheus' release build (promu) sets, so `promtool --version` names 3.x.y.
  # go install runs in module mode outside any module; it must not inherit a caller's GOFLAGS.
  # GOBIN is a scratch folder: the binary appears in $dir only once it is complete.
  rm -rf "$dir/bin.tmp"
  (cd "$dir" && GOBIN="$dir/bin.tmp" GOFLAGS= nice -n "$NICE" go install -p "$JOBS" -trimpath \
      -ldflags "-s -w -X $common.Version=$PROMETHEUS_VERSION -X $common.Branch=HEAD -X $common.BuildUser=stockops" \
      "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION") \
    || { rm -rf "$dir/bin.tmp"; die "go install promtool@$PROMETHEUS_MODULE_VERSION failed"; }
  mv -f "$dir/bin.tmp/promtool" "$dir/promtool"
  rmdir "$dir/bin.tmp"
  log "built promtool in $(( $(date +%s) - start ))s"
}

build_promtool() {
  local dir="$CACHE_ROOT/promtool-$PROMETHEUS_MODULE_VERSION-r$RECIPE"
  mkdir -p "$dir"
  [[ -x "$dir/promtool" ]] || with_lock "promtool-$PROMETHEUS_MODULE_VERSION-r$RECIPE" install_promtool "$dir"
  echo "STOCKOPS_PROMTOOL=$dir/promtool"
}

main() {
  local targets=("$@") start
  [[ ${#targets[@]} -eq 0 ]] && targets=(all)
  start=$(date +%s)
  for t in "${targets[@]}"; do
    case "$t" in
      promtool | all) build_promtool ;;
      -h | --help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) die "unknown target '$t' (expected promtool or all)" ;;
    esac
  done
  log "ready in $(( $(date +%s) - start ))s"
}

main "$@"
