#!/usr/bin/env bash
# Remove everything up.sh created: containers labelled
# srun-docker.testbed=cluster, the network, the per-node volumes, the state
# dir. Safe to run when nothing is up.
set -uo pipefail
HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
# shellcheck source=test/cluster/common.sh
. "$HERE/common.sh"
T0=$EPOCHREALTIME

if docker info >/dev/null 2>&1; then
  ids="$(docker ps -aq --filter "label=$CLUSTER_LABEL")"
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086
    timeout 120 docker rm -f -v $ids >/dev/null || log "warning: docker rm failed"
  fi
  nets="$(docker network ls -q --filter "label=$CLUSTER_LABEL")"
  for n in $nets; do timeout 60 docker network rm "$n" >/dev/null || log "warning: cannot remove network $n"; done
  vols="$(docker volume ls -q --filter "label=$CLUSTER_LABEL")"
  if [ -n "$vols" ]; then
    # shellcheck disable=SC2086
    timeout 120 docker volume rm -f $vols >/dev/null || log "warning: cannot remove volumes $vols"
  fi
else
  log "docker daemon does not answer; only removing the state dir"
fi

case "$CLUSTER_STATE" in
  ""|/|/tmp|/home|/root|/usr|/var|/etc) log "refusing to remove CLUSTER_STATE='$CLUSTER_STATE'" ;;
  *) rm -rf --one-file-system "$CLUSTER_STATE" ;;
esac
log "down in $(since "$T0") s"
