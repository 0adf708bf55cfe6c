#!/bin/bash
#SBATCH --job-name=srun-docker-mpi
#SBATCH --nodes=3
#SBATCH --ntasks-per-node=1
# A batch job that runs the mpi4py allreduce in Docker containers on every node:
#   sbatch examples/sbatch-mpi.sh            (output in slurm-<jobid>.out)
# The image can be changed with SRUN_DOCKER_IMAGE=... in the submitting environment.
set -euo pipefail
# sbatch runs a copy of this file from its spool dir, so find the examples/ dir by
# SRUN_DOCKER_EXAMPLES, else the submit dir (sbatch examples/sbatch-mpi.sh from the checkout).
examples=""
for d in "${SRUN_DOCKER_EXAMPLES:-}" "${SLURM_SUBMIT_DIR:-.}/examples" "${SLURM_SUBMIT_DIR:-.}"; do
  if [ -n "$d" ] && [ -e "$d/mpi4py-allreduce.sh" ]; then examples="$d"; break; fi
done
[ -n "$examples" ] || { echo "sbatch-mpi.sh: cannot find mpi4py-allreduce.sh; set SRUN_DOCKER_EXAMPLES=/path/to/examples" >&2; exit 2; }
srun srun-docker --container="${SRUN_DOCKER_IMAGE:-srun-docker/mpi:bookworm}" \
  --script="$examples/mpi4py-allreduce.sh"
