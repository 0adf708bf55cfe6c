#!/bin/bash
# PyTorch DDP with torchrun: one torchrun per node, NPROC_PER_NODE processes each, rendezvous at the
# coordinator (MASTER_ADDR:MASTER_PORT, both injected by srun-docker).
#   srun -N2 srun-docker --container=IMG --script=examples/torchrun-ddp.sh -- --steps=20
# The script runs on the coordinator only, so it starts one torchrun per node with mpirun
# (one slot per node, --map-by node); each learns its NODE_RANK from its MPI rank.
# CPU-only works too (the gloo backend): --slots_per_node=2 gives two processes per node.
# TORCHRUN_EXTRA_ARGS (pass it with --envlist=TORCHRUN_EXTRA_ARGS) adds torchrun flags; Debian's
# torch 1.13 on Python 3.11 needs "--redirects=1 --tee=1" (its "0" default trips a Python 3.11
# enum change: AttributeError: 'NoneType' object has no attribute 'get').
set -euo pipefail
: "${hostlist:?run this through srun-docker}" "${NNODES:?}" "${MASTER_ADDR:?}" "${MASTER_PORT:?}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
nodes_once="$(echo "$hostlist" | sed 's/:[0-9]*//g')"   # node1,node2: one launcher per node
export TORCHRUN_EXTRA_ARGS="${TORCHRUN_EXTRA_ARGS:-}"
exec mpirun -H "$nodes_once" -np "$NNODES" --map-by node -x MASTER_ADDR -x MASTER_PORT -x PATH -x TORCHRUN_EXTRA_ARGS \
  bash -c 'exec python3 -m torch.distributed.run --nnodes="$0" --nproc_per_node="$1" \
             --node_rank="$OMPI_COMM_WORLD_RANK" --master_addr="$MASTER_ADDR" --master_port="$MASTER_PORT" \
             $TORCHRUN_EXTRA_ARGS "$2" "${@:3}"' "$NNODES" "${NPROC_PER_NODE:-1}" "$here/ddp_train.py" "$@"
