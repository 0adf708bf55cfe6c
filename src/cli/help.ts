/** The parts of --help that are prose: injected variables, behaviour, examples. */
export function helpEpilogue(): string {
  return `Run once per node by srun: the first node of the step coordinates, the others are workers.
Every node starts a container as you (your uid/gid, HOME mounted, working directory = cwd)
with sshd on a private port; the coordinator waits until every worker answers an ssh login,
runs the script in its own container, returns its exit code, and every container is removed
(also on failure, timeout, Ctrl-C and scancel). Outside SLURM it runs as a one-node job here.

Injected into the script's environment:
  hostlist      node1:8,node2:8        (mpirun -H $hostlist; horovodrun -H $hostlist)
  np            total slots             (mpirun -np $np)
  NNODES        number of nodes         NODE_RANK  0 (the coordinator)
  HOSTFILE      OpenMPI hostfile path   ("node1 slots=8" lines)
  MASTER_ADDR   the coordinator's name  MASTER_PORT  a free port derived from the job step
  sshconfigdir  the ssh config dir      sshdport   the sshd port
  scriptpath    the script              remainargs the pass-through args, joined by ":"
  ENVLIST       the --envlist names, each also set to its value
\`ssh node2\` and mpirun reach the other containers with no edit of ~/.ssh (a per-job key,
pinned host key and ssh_config; OMPI_MCA_plm_rsh_agent points at it).

Defaults: every option can come from SRUN_DOCKER_<NAME> (SRUN_DOCKER_CONTAINER, SRUN_DOCKER_SSHDPORT,
...) or from ~/.config/srun-docker/config.json ($XDG_CONFIG_HOME) with the option names as keys;
the command line wins over the environment, which wins over the file.

Pass-through: unknown --flags and everything after -- go to the script unchanged.
Use --name=value; values may contain "=" and spaces (quote them for the shell).

Other commands:
  srun-docker ssh-setup [--sshconfigdir=DIR] [--sshdport=N]   create the original-mode ssh dir
  srun-docker cleanup [--all]                                   remove your stale containers
  srun-docker shell [JOBID[.STEP]] [--node=NODE] [-- CMD...]    a shell in a running job's container

Exit codes: the script's own; 2 bad usage; 1 launch failure; 130/143 interrupted.`;
}

export function helpExamples(): [string, string][] {
  return [
    ['srun-docker --container=srun-docker/mpi:bookworm --script=./job.sh', 'one-node run on this machine'],
    ['salloc -N4 && srun srun-docker --container=IMG --script=./train.sh -- --epochs=5', '4 nodes'],
    ['sbatch -N2 --wrap "srun srun-docker --container=IMG --script=$PWD/job.sh"', 'batch job'],
    ['srun srun-docker --container=IMG --script=job.sh --dockopts="--ipc=host -e NCCL_DEBUG=INFO"', 'extra flags'],
  ];
}
