#!/usr/bin/env bash
# Build the local test images (no registry can be reached: everything is
# built from Debian packages). Cached by tag: an image that exists is not
# rebuilt unless --force is given, or its Dockerfile's `LABEL srun-docker.rev=N`
# differs from the image's (an image built before a change to the Dockerfile).
#
#   srun-docker/base:bookworm        debootstrap minbase + sshd + ssh client
#   srun-docker/mpi:bookworm         base + Open MPI + python3 mpi4py numpy
#   srun-docker/slurm-node:bookworm  base + slurm-wlm + munge + docker.io
#   srun-docker/torch:bookworm       mpi + python3-torch (CPU; the torchrun example)
#   srun-docker/mpi-nossh:bookworm   mpi with OpenSSH purged (srun-docker's built-in ssh)
#   srun-docker/busybox:static       Debian's static busybox and nothing else (no glibc, no bash)
#
# usage: test/images/build.sh [--force] [base|mpi|slurm-node|torch|mpi-nossh|busybox ...]
set -euo pipefail

HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
BASE_TAG="srun-docker/base:$SUITE"
MPI_TAG="srun-docker/mpi:$SUITE"
NODE_TAG="srun-docker/slurm-node:$SUITE"
TORCH_TAG="srun-docker/torch:$SUITE"
NOSSH_TAG="srun-docker/mpi-nossh:$SUITE"
BUSYBOX_TAG="srun-docker/busybox:static"
export DOCKER_BUILDKIT=0 # the legacy builder works with every 20.10+ engine, no buildx needed

FORCE=0
TARGETS=()
for a in "$@"; do
  case "$a" in
    --force|-f) FORCE=1 ;;
    base|mpi|slurm-node|torch|mpi-nossh|busybox) TARGETS+=("$a") ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument '$a' (use --force, base, mpi, slurm-node, torch, mpi-nossh, busybox)" >&2; exit 2 ;;
  esac
done
[ "${#TARGETS[@]}" -gt 0 ] || TARGETS=(base mpi slurm-node torch mpi-nossh busybox)

log() { printf '[images] %s\n' "$*" >&2; }
have() { docker image inspect "$1" >/dev/null 2>&1; }
want() { [ "$FORCE" -eq 1 ] || ! have "$1"; }
# The srun-docker.rev label a Dockerfile asks for (empty: none) and the one an image has.
rev_wanted() { sed -n 's/^LABEL srun-docker\.rev=\([0-9]*\).*/\1/p' "$HERE/$1" | tail -n 1; }
rev_of() { docker image inspect -f '{{index .Config.Labels "srun-docker.rev"}}' "$1" 2>/dev/null || true; }
# A cached image is stale when its Dockerfile names another revision than the image carries.
stale() {
  local tag="$1" file="$2" want_rev have_rev
  want_rev="$(rev_wanted "$file")"
  [ -n "$want_rev" ] || return 1
  have_rev="$(rev_of "$tag")"
  [ "$have_rev" = "<no value>" ] && have_rev=""
  [ "$want_rev" != "$have_rev" ]
}

if ! docker info >/dev/null 2>&1; then
  log "docker daemon does not answer; run test/setup/ensure-docker.sh first"; exit 1
fi

T0=$SECONDS

# After a --force rebuild: drop the previous image of that tag if nothing
# else uses it (only our own old image, never a general prune).
rm_old() {
  local old="$1" tag="$2" new
  [ -n "$old" ] || return 0
  new="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
  [ "$old" != "$new" ] || return 0
  docker rmi "$old" >/dev/null 2>&1 || log "kept previous image ${old:7:12} of $tag (still in use)"
}

build_base() {
  if ! want "$BASE_TAG"; then log "$BASE_TAG exists (cached)"; return; fi
  command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || {
    log "debootstrap missing; run test/setup/ensure-docker.sh first"; exit 1; }
  local t=$SECONDS dir old
  old="$(docker image inspect -f '{{.Id}}' "$BASE_TAG" 2>/dev/null || true)"
  dir="$(mktemp -d /tmp/srun-docker-rootfs.XXXXXX)"
  # mktemp makes it 0700, and the tar below carries that into the image's / (non-root users then
  # cannot start anything on storage drivers that honour it, e.g. Podman's vfs)
  chmod 0755 "$dir"
  # shellcheck disable=SC2064
  trap "rm -rf --one-file-system '$dir'" EXIT
  log "debootstrap $SUITE into $dir"
  PATH="$PATH:/usr/sbin:/sbin" debootstrap --variant=minbase \
    --include=openssh-server,openssh-client,procps,iproute2,ca-certificates \
    "$SUITE" "$dir" "$MIRROR" >"$dir.log" 2>&1 || {
      tail -n 30 "$dir.log" >&2; rm -f "$dir.log"; exit 1; }
  rm -f "$dir.log"
  rm -f "$dir"/etc/ssh/ssh_host_*
  mkdir -p "$dir/run/sshd" && chmod 0755 "$dir/run/sshd"
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/archives/*.deb
  log "docker import -> $BASE_TAG"
  tar -C "$dir" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    - "$BASE_TAG" >/dev/null
  rm -rf --one-file-system "$dir"
  trap - EXIT
  rm_old "$old" "$BASE_TAG"
  log "$BASE_TAG built in $((SECONDS - t)) s"
}

# Debian's busybox-static alone: /bin/busybox and one symlink per applet, imported as an image.
build_busybox() {
  if ! want "$BUSYBOX_TAG"; then log "$BUSYBOX_TAG exists (cached)"; return; fi
  local t=$SECONDS dir old
  old="$(docker image inspect -f '{{.Id}}' "$BUSYBOX_TAG" 2>/dev/null || true)"
  dir="$(mktemp -d /tmp/srun-docker-busybox.XXXXXX)"
  # shellcheck disable=SC2064
  trap "rm -rf --one-file-system '$dir'" EXIT
  (cd "$dir" && apt-get download busybox-static >/dev/null 2>&1) || { log "apt-get download busybox-static failed"; exit 1; }
  dpkg-deb -x "$dir"/busybox-static_*.deb "$dir/deb"
  mkdir -p "$dir/root/bin" "$dir/root/etc" "$dir/root/tmp" "$dir/root/root"
  chmod 0755 "$dir/root"; chmod 1777 "$dir/root/tmp"
  install -m 0755 "$dir/deb/bin/busybox" "$dir/root/bin/busybox"
  local applet
  for applet in $("$dir/root/bin/busybox" --list-full); do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$dir/root/$(dirname "$applet")"
    ln -sf /bin/busybox "$dir/root/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$dir/root/etc/passwd"
  printf 'root:x:0:\n' >"$dir/root/etc/group"
  tar -C "$dir/root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/sh"]' \
    - "$BUSYBOX_TAG" >/dev/null
  rm -rf --one-file-system "$dir"
  trap - EXIT
  rm_old "$old" "$BUSYBOX_TAG"
  log "$BUSYBOX_TAG built in $((SECONDS - t)) s"
}

# docker build on the default bridge first; fall back to --network=host only
# if the build cannot reach the Debian mirror from the bridge.
dbuild() {
  local tag="$1" file="$2" base="${3:-$BASE_TAG}" t=$SECONDS
  if have "$tag" && [ "$FORCE" -eq 0 ] && stale "$tag" "$file"; then
    log "$tag exists but is revision '$(rev_of "$tag")', $file asks for $(rev_wanted "$file"): rebuilding"
  elif ! want "$tag"; then log "$tag exists (cached)"; return; fi
  local old; old="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
  log "docker build $tag ($file)"
  local nocache=(); [ "$FORCE" -eq 0 ] || nocache=(--no-cache)
  local logf; logf="$(mktemp /tmp/srun-docker-build.XXXXXX)"
  if docker build "${nocache[@]}" --build-arg "BASE=$base" -t "$tag" -f "$HERE/$file" "$HERE" >"$logf" 2>&1; then
    :
  elif grep -qiE 'temporary failure resolving|could not resolve|unable to connect|failed to fetch|network is unreachable' "$logf"; then
    log "default bridge could not reach the mirror; retrying with --network=host"
    tail -n 5 "$logf" >&2
    docker build "${nocache[@]}" --network=host --build-arg "BASE=$base" -t "$tag" -f "$HERE/$file" "$HERE" >"$logf" 2>&1 || {
      tail -n 40 "$logf" >&2; rm -f "$logf"; exit 1; }
  else
    tail -n 40 "$logf" >&2; rm -f "$logf"; exit 1
  fi
  rm -f "$logf"
  rm_old "$old" "$tag"
  log "$tag built in $((SECONDS - t)) s"
}

for t in "${TARGETS[@]}"; do
  case "$t" in
    base) build_base ;;
    mpi) have "$BASE_TAG" || build_base; dbuild "$MPI_TAG" mpi.Dockerfile ;;
    slurm-node) have "$BASE_TAG" || build_base; dbuild "$NODE_TAG" slurm-node.Dockerfile ;;
    torch)
      have "$BASE_TAG" || build_base
      have "$MPI_TAG" || dbuild "$MPI_TAG" mpi.Dockerfile
      dbuild "$TORCH_TAG" torch.Dockerfile "$MPI_TAG" ;;
    mpi-nossh)
      have "$BASE_TAG" || build_base
      have "$MPI_TAG" || dbuild "$MPI_TAG" mpi.Dockerfile
      dbuild "$NOSSH_TAG" mpi-nossh.Dockerfile "$MPI_TAG" ;;
    busybox) build_busybox ;;
  esac
done
log "done in $((SECONDS - T0)) s"
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep '^srun-docker/' >&2 || true
