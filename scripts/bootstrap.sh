#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: a project venv with every extra, and the system packages the
# tests need (Debian's redis-server, chromium and chromium-driver). Downloads are cached under ~/.cache so a
# second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

export UV_CACHE_DIR="${UV_CACHE_DIR:-$HOME/.cache/uv}"
PYTHON="${PYTHON:-python3}"

export PATH="$HOME/.local/bin:$PATH"  # where `pip install --user uv` put it on an earlier run
if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv (fast pip) for $PYTHON"
  "$PYTHON" -m pip install --quiet --user uv 2>/dev/null || "$PYTHON" -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi
UV="$(command -v uv || echo "$PYTHON -m uv")"

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  $UV venv --quiet --python "$PYTHON" .venv
fi
EXTRAS="${STOCKOPS_EXTRAS:-dev}"
stamp=".venv/.stockops-installed-$(cat pyproject.toml requirements/lock.txt 2>/dev/null | sha256sum | cut -c1-16)-$EXTRAS"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing stockops[$EXTRAS] into .venv (pinned by requirements/lock.txt)"
  constraint=()
  [ -f requirements/lock.txt ] && constraint=(--constraint requirements/lock.txt)
  $UV pip install --quiet --python .venv/bin/python "${constraint[@]}" -e ".[$EXTRAS]"
  # Bytecode at install, for both modes: uv does not compile, and with PYTHONDONTWRITEBYTECODE=1 (common
  # in CI and images) every process would recompile ~3,400 modules (about 20 s per CLI call). Level 1 is
  # what the entry points run (`python -O`, see src/stockops/launch.py). torch's internal test helpers
  # use Python 3.12 syntax and are skipped; anything else that fails to compile is reported, not fatal.
  echo "bootstrap: compiling bytecode (once per install)"
  .venv/bin/python -m compileall -q -j 0 -o 0 -o 1 -x '/torch/testing/_internal/' .venv/lib/python3*/site-packages >/dev/null || true
  rm -f .venv/.stockops-installed-*
  touch "$stamp"
fi
# Our own package is installed editable: compile it too (cheap; only changed files are rewritten).
.venv/bin/python -m compileall -q -j 0 -o 0 -o 1 src >/dev/null

if [ "${STOCKOPS_SKIP_SYSTEM_PACKAGES:-}" != "1" ] && ! command -v redis-server >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "bootstrap: installing Debian's redis-server (prediction cache / online store tests)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
if [ "${STOCKOPS_SKIP_SYSTEM_PACKAGES:-}" != "1" ] && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; }; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "bootstrap: installing Debian's chromium and chromium-driver (the web console's browser tests)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
