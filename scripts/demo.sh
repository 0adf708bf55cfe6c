#!/usr/bin/env bash
# npm run demo: an mpi4py allreduce across 3 SLURM nodes, each rank in its own Docker container,
# launched with `srun -N3 srun-docker ...` on a real SLURM cluster made of containers on this
# machine (test/cluster/). Builds what is missing, brings the cluster up, runs the job as the
# non-root user alice with --timings, prints the result, and always takes the cluster down
# (also on failure and Ctrl-C).
#
# env: CLUSTER_REUSE=1  use a cluster that is already up (test/cluster/up.sh) and leave it up
#      DEMO_TIMEOUT=300 seconds the job may take
set -euo pipefail
PROJECT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
IMAGE="srun-docker/mpi:bookworm"
JOB="$PROJECT/examples/mpi4py-allreduce.sh"
NODES=3
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

started_cluster=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$started_cluster" = 1 ]; then
    say "taking the cluster down"
    local t; t=$(now)
    bash "$PROJECT/test/cluster/down.sh" || echo "demo: down.sh failed; run it again: bash test/cluster/down.sh" >&2
    echo "cluster down in $(secs "$t") s"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "demo: interrupted" >&2; exit 130' INT
trap 'echo "demo: terminated" >&2; exit 143' TERM

cd "$PROJECT"
say "docker daemon and images (built only when missing)"
bash test/setup/ensure-docker.sh
bash test/images/build.sh
if [ ! -e dist/cli/cli.js ]; then
  say "building srun-docker (dist/ is missing)"
  npm run build
fi

T_UP=$(now)
if [ "${CLUSTER_REUSE:-0}" = 1 ] && docker exec slurmctl true 2>/dev/null; then
  say "using the cluster that is already up (CLUSTER_REUSE=1; it stays up)"
else
  say "bringing up a $NODES-node SLURM cluster (slurmctl + node1..node$NODES, each with its own dockerd)"
  started_cluster=1
  bash test/cluster/up.sh "$NODES"
fi
UP_SECS=$(secs "$T_UP")

say "srun -N$NODES srun-docker --container=$IMAGE --script=examples/mpi4py-allreduce.sh --timings   (as alice)"
OUT="$(mktemp)"
T_JOB=$(now)
set +e
timeout "${DEMO_TIMEOUT:-300}" docker exec -e SRUN_DOCKER_PULL=never -u alice -w /home/alice slurmctl \
  srun -N"$NODES" srun-docker --container="$IMAGE" --script="$JOB" --timings 2>&1 | tee "$OUT"
rc=${PIPESTATUS[0]}
set -e
JOB_SECS=$(secs "$T_JOB")

say "result"
ranks="$(grep -c '^allreduce rank=.* ok=True$' "$OUT" || true)"
bad="$(grep -c '^allreduce rank=.* ok=False$' "$OUT" || true)"
hosts="$(grep -o '^allreduce rank=.* host=[^ ]*' "$OUT" | sed 's/.*host=//' | sort -u | tr '\n' ' ')"
sum="$(grep -m1 -o '^allreduce rank=.* sum=[0-9]*' "$OUT" | sed 's/.*sum=//' || true)"
echo "exit code:  $rc"
echo "ranks ok:   $ranks (wrong: $bad), allreduce sum = ${sum:-?} (1+2+...+np)"
echo "nodes:      $hosts"
echo "timings (srun-docker --timings, per node):"
grep 'timings:' "$OUT" | sed 's/^/  /' || echo "  (none printed)"
echo "wall clock: cluster up ${UP_SECS} s, srun job ${JOB_SECS} s"
rm -f "$OUT"
if [ "$rc" -ne 0 ] || [ "$ranks" -lt "$NODES" ] || [ "$bad" -ne 0 ]; then
  echo "demo: FAILED (exit code $rc)" >&2
  [ "$rc" -ne 0 ] && exit "$rc"
  exit 1
fi
echo "demo: OK"
