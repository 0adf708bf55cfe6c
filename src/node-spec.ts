import type Docker from 'dockerode';
import { containerCommand } from './container-command.js';
import { jobEndMarker } from './job-end.js';
import { buildContainerSpec } from './container-spec.js';
import { dirname } from 'node:path';
import { scriptMount } from './container-spec.js';
import type { Identity } from './identity.js';
import { sshdLogPath } from './jobdir.js';
import { builtinBind } from './ssh/builtin.js';
import { builtinPaths, sessionPath } from './ssh/paths.js';
import { serverCommandLine, type SshKind } from './ssh/server.js';
import type { RunOptions } from './options.js';
import type { LaunchPlan } from './plan.js';

export interface NodeSpecFacts {
  identity: Identity;
  cwd: string;
  gpus: readonly string[];
  passwdFile: string;
  groupFile: string;
  /** Whether the image has this path (container.ts looks it up without running the image). */
  imageHas: (path: string) => boolean;
  /** The image's PATH: the built-in server's sessions get it, with the job's own commands first. */
  imagePath: string;
  ssh: SshKind;
  /** The built-in ssh on this host (mounted read-only when it is the one used). */
  dropbearPath: string;
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
      ? { command: plan.scriptCommand, envFile: plan.jobDir.jobEnv, exitFile: plan.jobDir.jobExit, endMarker: jobEndMarker(plan.jobId, plan.stepId) }
      : undefined;
  const script = scriptMount(plan.scriptPath, facts.imageHas(dirname(plan.scriptPath)));
  const spec = buildContainerSpec({
    name: plan.containerName,
    image: plan.image,
    identity: facts.identity,
    cwd: facts.cwd,
    passwdFile: facts.passwdFile,
    groupFile: facts.groupFile,
    neededPaths: [...plan.neededPaths, ...script.neededPaths],
    scriptFile: script.scriptFile,
    extraBinds: facts.ssh === 'builtin' ? [builtinBind(facts.dropbearPath)] : [],
    datamnts: options.datamnts,
    env: Object.entries(plan.envlist).map(([k, v]) => `${k}=${v}`),
    dockopts: plan.dockopts,
    privileged: options.privileged,
    ibdevices: options.ibdevices,
    gpus: facts.gpus,
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
      sshdPort: plan.port,
      heartbeat: plan.jobDir.heartbeat,
      sshdLog: sshdLogPath(plan.jobDir, plan.node),
      job,
    }),
    droppedDefaultUlimits,
  });
  // the coordinator's container waits for `go` on its input and runs the job; its output is the job's
  return job === undefined ? spec : { ...spec, OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true };
}
