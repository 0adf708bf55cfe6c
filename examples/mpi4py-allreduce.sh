#!/bin/bash
# Job script for srun-docker: an mpi4py allreduce over every slot of every node.
#   srun -N3 srun-docker --container=srun-docker/mpi:bookworm --script=examples/mpi4py-allreduce.sh
# srun-docker injects hostlist (node1:1,node2:1,...), np and an ssh set-up that mpirun uses as is.
set -euo pipefail
# shellcheck disable=SC2154  # hostlist, np, NNODES are injected by srun-docker
: "${hostlist:?run this through srun-docker}" "${np:?}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
echo "job: hostlist=$hostlist np=$np NNODES=$NNODES on $(hostname)"
# --oversubscribe: --slots_per_node may ask for more ranks than a small node has cores.
exec mpirun --oversubscribe -H "$hostlist" -np "$np" python3 "$here/allreduce.py" "$@"
