#!/bin/bash
# DeepSpeed across every GPU of every node: DeepSpeed's own launcher reads the hostfile
# (`node slots=N`, injected as DEEPSPEED_HOSTFILE) and reaches the nodes with the ssh on PATH,
# which srun-docker points at the job's own keys and port.
#   srun -N2 srun-docker --container=IMG --script=examples/deepspeed.sh -- --deepspeed_config=ds_config.json
set -euo pipefail
: "${DEEPSPEED_HOSTFILE:?run this through srun-docker}" "${MASTER_ADDR:?}" "${MASTER_PORT:?}"
exec deepspeed --hostfile "$DEEPSPEED_HOSTFILE" --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT" \
  --launcher openmpi --launcher_args "--mca plm_rsh_agent $OMPI_MCA_plm_rsh_agent" \
  train.py "$@"
