# shellcheck shell=bash disable=SC2034
# Shared settings for test/cluster/*.sh (sourced).
CLUSTER_NET="${CLUSTER_NET:-srun-docker-cluster}"
CLUSTER_SUBNET="${CLUSTER_SUBNET:-172.30.0.0/24}"
CLUSTER_STATE="${CLUSTER_STATE:-/tmp/srun-docker-cluster}"
CLUSTER_IMAGE="${CLUSTER_IMAGE:-srun-docker/slurm-node:bookworm}"
CLUSTER_IMAGES="${CLUSTER_IMAGES:-srun-docker/mpi:bookworm}"
CLUSTER_HOME="${CLUSTER_HOME:-plain}"
CLUSTER_NODENAMES="${CLUSTER_NODENAMES:-hostnames}"
CLUSTER_LABEL="srun-docker.testbed=cluster"
CLUSTER_CTL="slurmctl"
log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# Address of host index i on the cluster subnet (/24 only): 2 = slurmctl,
# 10+K = nodeK.
cluster_ip() {
  local prefix="${CLUSTER_SUBNET%/*}"
  printf '%s.%s' "${prefix%.*}" "$1"
}
# Seconds since an $EPOCHREALTIME stamp, with one decimal.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }
