import type Docker from 'dockerode';
import { containerCommand } from './container-command.js';
import { controlFifoPath } from './control-fifo.js';
import { buildContainerSpec, containerEnv, isWithin, samePathDataMount, scriptMount } from './container-spec.js';
import type { EngineFacts } from '../docker/engine.js';
import { dirname } from 'node:path';
import type { Identity } from './identity.js';
import type { StepResources } from '../slurm/resources.js';
import { sshdLogPath } from '../plan/jobdir.js';
import { builtinPaths, sessionPath } from '../ssh/paths.js';
import { serverCommandLine, type SshKind } from '../ssh/server.js';
import type { RunOptions } from '../plan/run-options.js';
import type { LaunchPlan } from '../plan/plan.js';

export interface NodeSpecFacts {
  identity: Identity;
  cwd: string;
  gpus: readonly string[];
  resources: StepResources;
  engine: EngineFacts;
  /** Whether the image has this path (container.ts looks it up without running the image). */
  imageHas: (path: string) => boolean;
  /** The image's PATH: the built-in server's sessions get it, with the job's own commands first. */
  imagePath: string;
  ssh: SshKind;
  /** The node's own files, `host:container:ro`, when they are mounted (none when the daemon writes them in). */
  fileBinds: readonly string[];
  /** The coordinator's container runs the job on a terminal (srun-docker's own input and output are one). */
  terminal?: boolean;
  /** Directories mounted whole (same path inside) in place of the needed paths below them: what the daemon can reach (reachable.ts). */
  widerMounts?: readonly string[];
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
  const script = scriptMount(plan.scriptPath, { file: facts.imageHas(plan.scriptPath), dir: facts.imageHas(dirname(plan.scriptPath)) });
  // a working directory the daemon cannot reach cannot be the container's either (runc makes sure
  // it exists, as root): the container starts in the directory mounted in its place, and the job
  // changes into it itself (job.env's first line)
  const wider = facts.widerMounts?.find((dir) => isWithin(facts.cwd, dir));
  const spec = buildContainerSpec({
    name: plan.containerName,
    image: plan.image,
    identity: facts.identity,
    cwd: wider ?? facts.cwd,
    neededPaths: [...plan.neededPaths, ...script.neededPaths, ...(facts.widerMounts ?? [])],
    scriptFile: script.scriptFile,
    fileBinds: facts.fileBinds,
    // one the daemon could not mount is inside a mount moved up in its place (node-container.ts)
    datamnts: options.datamnts.filter((entry) => {
      const path = samePathDataMount(entry);
      return path === undefined || !(facts.widerMounts ?? []).some((dir) => isWithin(path, dir));
    }),
    env: envlistEntries(plan),
    dockopts: plan.dockopts,
    privileged: options.privileged,
    ibdevices: options.ibdevices,
    gpus: facts.gpus,
    resources: facts.resources,
    engine: facts.engine,
    labels: plan.labels,
    command: containerCommand({
      server: serverCommandLine({
        kind: facts.ssh,
        port: plan.port,
        sshdConfig: plan.sshdConfig,
        dropbearHostKey: builtinPaths(plan.jobDir, plan.node).hostKey,
        authorizedKeysDir: plan.jobDir.root,
        sessionPath: sessionPath(plan.jobDir, facts.imagePath),
        uid: facts.identity.uid,
      }),
      sshdLog: sshdLogPath(plan.jobDir, plan.node),
      job,
    }),
    droppedDefaultUlimits,
  });
  // every container's input is held by its srun-docker (closed by the daemon when that process is
  // gone); the coordinator's input and output are the job's, on a terminal when srun-docker's are
  const input = { OpenStdin: true, StdinOnce: true, AttachStdin: true };
  if (job === undefined) return { ...spec, ...input };
  return { ...spec, ...input, AttachStdout: true, AttachStderr: true, Tty: facts.terminal === true };
}

/** Pure: the variables srun-docker sets in this node's container, over the image's own (its ssh sessions get them too). */
export function nodeContainerEnv(plan: LaunchPlan, identity: Identity, gpus: readonly string[]): string[] {
  return containerEnv({ identity, env: envlistEntries(plan), dockopts: plan.dockopts, gpus });
}

function envlistEntries(plan: LaunchPlan): string[] {
  return Object.entries(plan.envlist).map(([k, v]) => `${k}=${v}`);
}
