#!/bin/bash
# Horovod + PyTorch MNIST across every GPU of every node.
#   srun -N2 srun-docker --container=nvcr.io/nvidia/pytorch:24.01-py3 --script=examples/horovod-pytorch-mnist.sh -- --epochs=3
# Needs an image with PyTorch, torchvision, Horovod, Open MPI and sshd.
set -euo pipefail
: "${hostlist:?run this through srun-docker}" "${np:?}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# mpirun form (same as horovodrun -H): -x forwards the variables the ranks need.
exec mpirun -H "$hostlist" -np "$np" -bind-to none -map-by slot \
  -x NCCL_DEBUG=WARN -x LD_LIBRARY_PATH -x PATH \
  python3 "$here/horovod_pytorch_mnist.py" "$@"
