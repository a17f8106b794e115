#!/usr/bin/env bash
# Builds the StockOps container images with podman, once per change of their inputs, and prints their tags.
#
#   scripts/build-images.sh [base|operator|trainer|predictor|agent|gateway|all]...   (default: all)
#   scripts/build-images.sh --print-tags    the tags the current inputs give (no build, no podman)
#
# Why: the test suite builds every Dockerfile with a real OCI builder and runs its container under the
# restricted security context (tests/images). No Docker engine and no image registry can be reached
# here, so the builder is Debian's podman (buildah inside, runc as the runtime) and the base image is
# built from Debian packages with debootstrap, once, and kept in podman's store. Every Dockerfile takes
# it as `--build-arg BASE_IMAGE`; its default stays the official python:3.11-slim users get.
#
# Cache: an image is named localhost/stockops/<name>:<key>, the key a hash of its inputs (its Dockerfile,
# .dockerignore, pyproject.toml, requirements/lock.txt, README.md, every file under src/ but bytecode, the
# base image's tag and the torch index); an image already in podman's store is reused at once. A changed
# input builds a new tag (the layer cache keeps what did not change: the torch layer is rebuilt only for a
# new base or index), then older tags of that image and the layers only they used are removed. Pip's
# downloads live in a build cache mount (RUN --mount=type=cache), so even a rebuilt layer downloads
# nothing twice. The trainer, predictor and agent images begin with the same base and torch layer and
# share it in the store.
#
# Environment (all optional):
#   STOCKOPS_BASE_IMAGE        use this base (e.g. python:3.11-slim where a registry is reachable) instead
#                              of the Debian base built here
#   STOCKOPS_TORCH_INDEX_URL   where torch comes from (default https://pypi.org/simple, the only index
#                              reachable here; its wheel bundles CUDA: gigabytes, downloaded once)
#   STOCKOPS_DEBIAN_MIRROR     mirror for debootstrap (default: the machine's own apt source)
#   STOCKOPS_IMAGES_CACHE      stamps and logs (default ${XDG_CACHE_HOME:-~/.cache}/stockops/images)
#   STOCKOPS_BUILD_NICE        nice level of the builds (default 10)
#   CONTAINERS_CONF            engine settings (default: images/containers.conf of this checkout)
# Only KEY=VALUE lines go to stdout: STOCKOPS_CONTAINERS_CONF, then STOCKOPS_IMAGE_<NAME> per image;
# progress and build times go to stderr. podman, runc and debootstrap are installed with apt when missing.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Bump when the recipe (build flags, key inputs, base packages) changes, so old entries are not reused.
RECIPE="1"
SUITE="bookworm"
BASE_PACKAGES="python3,python3-venv,ca-certificates"
TORCH_INDEX_URL="${STOCKOPS_TORCH_INDEX_URL:-https://pypi.org/simple}"
CACHE_DIR="${STOCKOPS_IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stockops/images}"
NICE="${STOCKOPS_BUILD_NICE:-10}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$REPO_ROOT/images/containers.conf}"

declare -A DOCKERFILES=(
  [operator]="operator/Dockerfile"
  [trainer]="images/trainer/Dockerfile"
  [predictor]="images/predictor/Dockerfile"
  [agent]="images/agent/Dockerfile"
  [gateway]="images/gateway/Dockerfile"
)
# Torch images first: the first of them builds the shared torch layer, the others reuse it.
ALL_IMAGES=(trainer predictor agent operator gateway)

log() { printf 'build-images: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
as_root() { if [[ "$(id -u)" -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

ensure_tools() {
  local missing=()
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  if [[ -z "${STOCKOPS_BASE_IMAGE:-}" ]]; then
    command -v debootstrap >/dev/null 2>&1 || [[ -x /usr/sbin/debootstrap ]] || missing+=(debootstrap)
  fi
  ((${#missing[@]} == 0)) && return
  command -v apt-get >/dev/null 2>&1 || die "${missing[*]} missing and no apt-get: install them (podman >= 4, runc)"
  log "installing Debian's ${missing[*]} (container builds and runs without Docker)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# The machine's own Debian mirror (deb822 .sources or a one-line sources.list), else deb.debian.org.
debian_mirror() {
  if [[ -n "${STOCKOPS_DEBIAN_MIRROR:-}" ]]; then echo "$STOCKOPS_DEBIAN_MIRROR"; return; fi
  local uri
  uri="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}' | grep -v security | head -1 || true)"
  [[ -n "$uri" ]] || uri="$(awk '$1=="deb" && $0 !~ /security/ {for (i=2; i<=NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

sha() { sha256sum | cut -c1-16; }

base_tag() {
  if [[ -n "${STOCKOPS_BASE_IMAGE:-}" ]]; then echo "$STOCKOPS_BASE_IMAGE"; return; fi
  printf '%s\n' "recipe=$RECIPE" "suite=$SUITE" "packages=$BASE_PACKAGES" "mirror=$(debian_mirror)" "arch=$(uname -m)" \
    | sha | sed "s|^|localhost/stockops/base:$SUITE-|"
}

# What goes into an image (the build context .dockerignore lets through), hashed with its recipe.
image_key() {
  local name="$1" dockerfile="${DOCKERFILES[$1]}"
  {
    printf '%s\n' "recipe=$RECIPE" "image=$name" "base=$(base_tag)"
    grep -q '^ARG TORCH_INDEX_URL' "$REPO_ROOT/$dockerfile" && printf 'torch-index=%s\n' "$TORCH_INDEX_URL"
    cd "$REPO_ROOT"
    sha256sum "$dockerfile" .dockerignore pyproject.toml README.md requirements/lock.txt
    find src -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha
}

image_tag() { echo "localhost/stockops/$1:$(image_key "$1")"; }

with_lock() { # with_lock <command...>: one build at a time on this machine (the store and CPU are shared)
  mkdir -p "$CACHE_DIR"
  (
    flock 9
    "$@"
  ) 9>"$CACHE_DIR/.build.lock"
}

build_base() {
  local tag="$1" root start mirror
  podman image exists "$tag" && return
  start=$(date +%s)
  mirror="$(debian_mirror)"
  root="$CACHE_DIR/rootfs.tmp"
  as_root rm -rf "$root"
  mkdir -p "$CACHE_DIR"
  log "debootstrap $SUITE ($BASE_PACKAGES) from $mirror -> $tag (about 2 minutes)"
  as_root nice -n "$NICE" debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$root" "$mirror" \
    >"$CACHE_DIR/debootstrap.log" 2>&1 || die "debootstrap failed; see $CACHE_DIR/debootstrap.log"
  # Package lists, docs and man pages are of no use in an image (about 40 MB).
  as_root rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*
  as_root tar --numeric-owner -C "$root" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' - "$tag" >/dev/null
  as_root rm -rf "$root"
  echo "$(( $(date +%s) - start ))" >"$CACHE_DIR/base-${tag##*:}.seconds"
  log "base $tag ready in $(( $(date +%s) - start ))s"
}

build_image() {
  local name="$1" tag="$2" base="$3" dockerfile="${DOCKERFILES[$1]}" start args=() old
  podman image exists "$tag" && return
  args=(--pull=never --layers --network host --build-arg "BASE_IMAGE=$base")
  grep -q '^ARG TORCH_INDEX_URL' "$REPO_ROOT/$dockerfile" && args+=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL")
  # Build steps trust only the machine's CA bundle for outbound TLS: mounted, never baked in.
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] \
    && args+=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
  [[ -f /etc/pip.conf ]] && args+=(-v /etc/pip.conf:/etc/pip.conf:ro)
  start=$(date +%s)
  log "building $tag from $dockerfile (log: $CACHE_DIR/$name.log)"
  nice -n "$NICE" podman build "${args[@]}" -f "$REPO_ROOT/$dockerfile" -t "$tag" "$REPO_ROOT" \
    >"$CACHE_DIR/$name.log" 2>&1 || { tail -n 40 "$CACHE_DIR/$name.log" >&2; die "$name did not build"; }
  echo "$(( $(date +%s) - start ))" >"$CACHE_DIR/$name-${tag##*:}.seconds"
  log "built $name in $(( $(date +%s) - start ))s"
  # Older tags of this image, then the layers no image uses any more (never another image's).
  old="$(podman images --format '{{.Repository}}:{{.Tag}}' "localhost/stockops/$name" | grep -vxF "$tag" || true)"
  for image in $old; do podman rmi "$image" >/dev/null 2>&1 || true; done
  podman image prune -f >/dev/null 2>&1 || true
}

build_all() {
  local base="$1"
  shift
  if [[ -z "${STOCKOPS_BASE_IMAGE:-}" ]]; then
    build_base "$base"
  elif ! podman image exists "$base"; then
    podman pull "$base" >&2 || die "cannot pull the base image $base"
  fi
  podman image exists "$base" || die "base image $base is not in podman's store"
  local tag
  # Each key is taken again right before its build, so the tag names what was built even when the
  # checkout changed since the fast path looked; `name tag` lines go back to the caller.
  for name in "$@"; do
    tag="$(image_tag "$name")"
    build_image "$name" "$tag" "$base"
    echo "$name $tag"
  done
}

requested=()
print_only=0
named=0
for arg in "$@"; do
  case "$arg" in
    --print-tags) print_only=1 ;;
    all) named=1; requested+=("${ALL_IMAGES[@]}") ;;
    base) named=1 ;;
    operator|trainer|predictor|agent|gateway) named=1; requested+=("$arg") ;;
    *) die "unknown argument $arg (base, ${ALL_IMAGES[*]}, all, --print-tags)" ;;
  esac
done
((named == 1)) || requested=("${ALL_IMAGES[@]}")
# Each image once, in the order above (torch images first).
((${#requested[@]} == 0)) || mapfile -t requested < <(printf '%s\n' "${ALL_IMAGES[@]}" | grep -xF -f <(printf '%s\n' "${requested[@]}"))

base="$(base_tag)"
declare -A tags=()
for name in "${requested[@]}"; do tags[$name]="$(image_tag "$name")"; done
if ((print_only == 0)); then
  ensure_tools
  missing=()
  for name in "${requested[@]}"; do podman image exists "${tags[$name]}" || missing+=("$name"); done
  if ((${#missing[@]} > 0)) || ! podman image exists "$base"; then
    built="$(with_lock build_all "$base" "${missing[@]}")"
    while read -r name tag; do [[ -n "$name" ]] && tags[$name]="$tag"; done <<<"$built"
  fi
fi
echo "STOCKOPS_CONTAINERS_CONF=$CONTAINERS_CONF"
echo "STOCKOPS_IMAGE_BASE=$base"
for name in "${requested[@]}"; do
  echo "STOCKOPS_IMAGE_${name^^}=${tags[$name]}"
done
