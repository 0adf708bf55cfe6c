#!/bin/bash
# PyTorch DDP with torchrun in an image with no MPI and no ssh of its own (the official and NGC
# PyTorch images): one torchrun per node, started over ssh (srun-docker's built-in one where the
# image has none). Each node's ssh sessions have the job's variables with that node's own NODE_RANK;
# the rendezvous is at the coordinator (MASTER_ADDR:MASTER_PORT).
#   srun -N2 srun-docker --container=pytorch/pytorch:TAG --script=examples/torchrun-ssh.sh -- --steps=20
# TORCHRUN: the launcher command (default `python3 -m torch.distributed.run`; `torchrun` where the
# image has it on PATH). TORCHRUN_EXTRA_ARGS (pass it with --envlist=TORCHRUN_EXTRA_ARGS) adds
# torchrun flags. The first node whose torchrun fails ends the job with its exit code: the others
# would wait for it at the rendezvous, and srun-docker removes every container as the job ends.
set -euo pipefail
: "${hostlist:?run this through srun-docker}" "${NNODES:?}" "${MASTER_ADDR:?}" "${MASTER_PORT:?}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# each word in single quotes, for the remote shell (which may be a plain POSIX sh)
quote() {
  local word
  for word in "$@"; do printf "'%s' " "${word//\'/\'\\\'\'}"; done
}

# $NODE_RANK is left for each node's own session to expand
command="cd $(quote "$PWD") && exec ${TORCHRUN:-python3 -m torch.distributed.run} --nnodes=$NNODES \
--nproc_per_node=${NPROC_PER_NODE:-1} --node_rank=\$NODE_RANK --master_addr=$MASTER_ADDR \
--master_port=$MASTER_PORT ${TORCHRUN_EXTRA_ARGS:-} $(quote "$here/ddp_train.py" "$@")"

# one node: the job's own container is this node's, nothing to start over ssh
if [ "$NNODES" -eq 1 ]; then NODE_RANK=0 exec sh -c "$command"; fi

pids=()
for node in $(echo "$hostlist" | tr , '\n' | sed 's/:.*//'); do
  # shellcheck disable=SC2029 # built on this side on purpose, each word quoted
  ssh "$node" "$command" &
  pids+=("$!")
done
for _ in "${pids[@]}"; do
  if wait -n; then continue; else status=$?; fi
  echo "torchrun-ssh.sh: a node's torchrun failed (exit $status)" >&2
  exit "$status"
done
