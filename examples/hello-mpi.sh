#!/bin/bash
# MPI hello world across every node of the job.
#   one node, here:   srun-docker --container=srun-docker/mpi:bookworm --script=examples/hello-mpi.sh
#   on a cluster:     srun -N4 srun-docker --container=IMG --script=examples/hello-mpi.sh
# srun-docker injects $hostlist and $np; ssh to the other containers needs no set-up.
set -euo pipefail
echo "job on $NNODES node(s): hostlist=$hostlist np=$np"
mpirun -H "$hostlist" -np "$np" bash -c 'echo "hello from rank $OMPI_COMM_WORLD_RANK of $OMPI_COMM_WORLD_SIZE on $(hostname) as $(id -un)"'
