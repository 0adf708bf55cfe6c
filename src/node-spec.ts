import type Docker from 'dockerode';
import { containerCommand } from './container-command.js';
import { controlFifoPath } from './control-fifo.js';
import { buildContainerSpec } from './container-spec.js';
import type { Identity } from './identity.js';
import { sshdLogPath } from './jobdir.js';
import type { RunOptions } from './options.js';
import type { LaunchPlan } from './plan.js';

export interface NodeSpecFacts {
  identity: Identity;
  cwd: string;
  gpus: readonly string[];
  passwdFile: string;
  groupFile: string;
  /** The coordinator's container runs the job on a terminal (srun-docker's own input and output are one). */
  terminal?: boolean;
}

/** Pure: one node's container, from its plan — the same for a real run and for --dry-run. */
export function nodeContainerSpec(
  options: RunOptions,
  plan: LaunchPlan,
  facts: NodeSpecFacts,
  droppedDefaultUlimits: readonly string[] = [],
): Docker.ContainerCreateOptions {
  const job =
    plan.role === 'coordinator'
      ? { command: plan.scriptCommand, envFile: plan.jobDir.jobEnv, exitFile: plan.jobDir.jobExit, controlFifo: controlFifoPath(plan.jobDir, plan.node) }
      : undefined;
  const spec = buildContainerSpec({
    name: plan.containerName,
    image: plan.image,
    identity: facts.identity,
    cwd: facts.cwd,
    passwdFile: facts.passwdFile,
    groupFile: facts.groupFile,
    neededPaths: plan.neededPaths,
    datamnts: options.datamnts,
    env: Object.entries(plan.envlist).map(([k, v]) => `${k}=${v}`),
    dockopts: plan.dockopts,
    privileged: options.privileged,
    ibdevices: options.ibdevices,
    gpus: facts.gpus,
    labels: plan.labels,
    command: containerCommand({
      sshdConfig: plan.sshdConfig,
      sshdPort: plan.port,
      heartbeat: plan.jobDir.heartbeat,
      sshdLog: sshdLogPath(plan.jobDir, plan.node),
      job,
    }),
    droppedDefaultUlimits,
  });
  // the coordinator's container runs the job: its input and output are the job's, on a terminal when srun-docker's are
  if (job === undefined) return spec;
  return { ...spec, OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: facts.terminal === true };
}
