#!/bin/bash
# Horovod + TensorFlow (Keras) MNIST across every GPU of every node.
#   srun -N2 srun-docker --container=nvcr.io/nvidia/tensorflow:24.01-tf2-py3 --script=examples/horovod-tf-mnist.sh -- --epochs=3
# Needs an image with TensorFlow, Horovod, Open MPI and sshd (NGC TensorFlow images + examples/Dockerfile.ssh).
# srun-docker injects hostlist (node1:8,node2:8) and np; horovodrun -H takes hostlist as is, and its
# ssh goes through the job's own ssh set-up (the ssh on PATH).
set -euo pipefail
: "${hostlist:?run this through srun-docker}" "${np:?}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec horovodrun -np "$np" -H "$hostlist" --network-interface "${HVD_IFACE:-eth0}" \
  python3 "$here/horovod_tf_mnist.py" "$@"
