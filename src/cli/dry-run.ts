import type Docker from 'dockerode';
import type { Allocation } from '../slurm/allocation.js';
import { channelPorts } from '../channel/ports.js';
import { ROOT_DOCKER } from '../docker/engine.js';
import type { Identity } from '../container/identity.js';
import type { StepResources } from '../slurm/resources.js';
import { buildJobEnv } from '../plan/job-env.js';
import { nodeEtcDir, nodeHostKeyPath } from '../plan/jobdir.js';
import { dropbearHostPath } from '../ssh/builtin.js';
import { ownFileBinds } from '../container/container.js';
import { nodeContainerSpec } from '../container/node-spec.js';
import type { RunOptions } from '../plan/run-options.js';
import { buildLaunchPlan, type HostFacts, type LaunchPlan } from '../plan/plan.js';
import { dirname } from 'node:path';
import { builtinPaths } from '../ssh/paths.js';
import { chooseSsh, type SshChoice } from '../ssh/server.js';
import { InternalError } from '../platform/errors.js';

/** What --dry-run could learn about the image from the daemon, without running it (none when the daemon or the image is not there). */
export interface ImagePreview {
  present: ReadonlySet<string>;
  path: string;
  /** The image's ENTRYPOINT, which no container of the job runs. */
  entrypoint: string[];
}

export interface NodePreview {
  node: string;
  role: 'coordinator' | 'worker';
  container: Docker.ContainerCreateOptions;
  /** The coordinator's control channel: the ports it tries in turn (the first free one), which the workers try in the same order. */
  channelPorts?: number[];
  /** What the container gets of what SLURM gave the step here: GPUs (physical ids), cpuset, memory in bytes. */
  resources: { gpus: string[]; cpuset?: string; memoryBytes?: number };
  /** The coordinator's readiness check of each worker, and the job it runs. */
  readiness?: string[][];
  job?: { command: string[]; env: Record<string, string> };
}

export interface DryRun {
  jobDir: string;
  /** Which ssh the containers get, and why. */
  ssh: SshChoice;
  /** The image's ENTRYPOINT (empty when it has none, absent when the image was not looked at): not run. */
  imageEntrypoint?: string[];
  sshMaterial: string[];
  nodes: NodePreview[];
  assumptions: string[];
}

/**
 * Pure: what every node would create and run, without touching Docker. Things only a real run can
 * know (the image's own passwd entries and PATH, other nodes' GPUs) are named as assumptions.
 */
export function previewRun(
  options: RunOptions,
  allocation: Allocation,
  host: HostFacts,
  identity: Identity,
  slots: number,
  image?: ImagePreview,
): DryRun {
  const plans = allocation.nodes.map((node, index) =>
    buildLaunchPlan(options, { ...allocation, nodeName: node, role: index === 0 ? 'coordinator' : 'worker' }, host),
  );
  const first = plans[0];
  if (first === undefined) throw new InternalError('an allocation without nodes');
  const ssh = previewSsh(options, first, image);
  const facts = { identity, cwd: host.cwd, gpus: allocation.gpus, resources: allocation.resources, slots, ssh, image };
  const nodes = plans.map((plan) => previewNode(options, plan, facts, plans));
  return {
    jobDir: first.jobDir.root,
    ssh,
    ...(image === undefined ? {} : { imageEntrypoint: image.entrypoint }),
    sshMaterial: first.sshconfigdir === undefined
      ? [
          first.jobDir.clientKey,
          first.jobDir.authorizedKeys,
          first.jobDir.knownHosts,
          first.jobDir.sshConfig,
          first.jobDir.sshWrapper,
          ...plans.flatMap((plan) => [nodeHostKeyPath(plan.jobDir, plan.node), plan.sshdConfig]),
          ...(ssh.kind === 'builtin'
            ? [builtinPaths(first.jobDir, '').clientKey, builtinPaths(first.jobDir, '').clientKnownHosts, ...plans.map((plan) => builtinPaths(plan.jobDir, plan.node).hostKey)]
            : []),
        ]
      : [first.sshdConfig],
    nodes,
    assumptions: [
      "/etc/passwd and /etc/group: the image's own entries plus yours, written to each node's own folder of the job directory and mounted (where a node's daemon cannot reach them, a home on NFS with root_squash, it writes them and the built-in ssh into the containers instead)",
      "PATH: the image's PATH, read from the image at run time",
      ...(image === undefined
        ? [
            "the image: not looked at (the daemon did not answer, or the image is not on this host); each node checks it at run time",
            "the script's directory: assumed to be one of the image's, so only the script file is mounted",
          ]
        : []),
      `slots: ${slots} per node (--slots_per_node, else this node's GPUs or nvidia-smi, else 1); each worker reports its own`,
      "GPUs, cpuset and memory: each node hands over what SLURM gave the step there; shown here are this node's",
      'the engine: a root Docker daemon (rootless Docker and Podman map the user differently, read from the daemon at run time)',
    ],
  };
}

function previewNode(
  options: RunOptions,
  plan: LaunchPlan,
  facts: { identity: Identity; cwd: string; gpus: string[]; resources: StepResources; slots: number; ssh: SshChoice; image: ImagePreview | undefined },
  all: LaunchPlan[],
): NodePreview {
  const { identity, gpus, slots, image } = facts;
  const container = nodeContainerSpec(options, plan, {
    identity,
    cwd: facts.cwd,
    gpus,
    resources: facts.resources,
    engine: ROOT_DOCKER,
    imageHas: (path) => image?.present.has(path) ?? path === dirname(plan.scriptPath),
    imagePath: image?.path ?? '<image PATH>',
    ssh: facts.ssh.kind,
    fileBinds: ownFileBinds(nodeEtcDir(plan.jobDir, plan.node), facts.ssh.kind === 'builtin' ? dropbearHostPath() : undefined),
  });
  const resources = resourcesOf(container);
  if (plan.role === 'worker') return { node: plan.node, role: plan.role, container, resources };
  const env = buildJobEnv({
    nodes: all.map((p) => ({ node: p.node, slots })),
    port: plan.port,
    masterPort: plan.masterPort,
    dir: plan.jobDir,
    sshconfigdir: plan.sshconfigdir,
    scriptPath: plan.scriptPath,
    scriptArgs: options.scriptArgs,
    envlist: plan.envlist,
    imagePath: '<image PATH>',
    asRoot: identity.uid === 0,
  });
  const readiness = all
    .filter((p) => p.role === 'worker')
    .map((p) => ['ssh', ...(plan.sshconfigdir === undefined ? ['-F', plan.jobDir.sshConfig] : ['-p', String(plan.port)]), p.node, 'true']);
  const channel = all.length > 1 ? { channelPorts: channelPorts(plan.jobId, plan.stepId) } : {};
  return { node: plan.node, role: plan.role, container, resources, ...channel, readiness, job: { command: plan.scriptCommand, env } };
}

/** Read back from the container's options, so that what is shown is what is sent (the user's --dockopts included). */
function resourcesOf(container: Docker.ContainerCreateOptions): NodePreview['resources'] {
  const h = container.HostConfig ?? {};
  const gpus = (h.DeviceRequests ?? []).flatMap((d: Docker.DeviceRequest) => d.DeviceIDs ?? (d.Count === -1 ? ['all'] : d.Count ? [`count=${d.Count}`] : []));
  return {
    gpus,
    ...(h.CpusetCpus ? { cpuset: h.CpusetCpus } : {}),
    ...(h.Memory ? { memoryBytes: h.Memory } : {}),
  };
}

/** The choice a run would make; without the image's facts, `auto` is decided by each node at run time. */
function previewSsh(options: RunOptions, plan: LaunchPlan, image: ImagePreview | undefined): SshChoice {
  if (plan.sshconfigdir !== undefined) return { kind: 'image', reason: "--sshconfigdir: the image's OpenSSH with your sshd_config" };
  if (image !== undefined) return chooseSsh(options.ssh, image.present, plan.image);
  if (options.ssh === 'builtin') return chooseSsh('builtin', new Set(), plan.image);
  return { kind: 'image', reason: `--ssh=${options.ssh}: the image was not looked at; shown as with its OpenSSH, each node decides at run time` };
}

/** The human-readable form: one block per node. */
export function formatDryRun(preview: DryRun): string {
  const lines = [`job directory: ${preview.jobDir}`, `ssh: ${preview.ssh.kind} (${preview.ssh.reason})`, `ssh material: ${preview.sshMaterial.join(' ')}`];
  const entrypoint = preview.imageEntrypoint ?? [];
  if (entrypoint.length > 0) {
    const shown = entrypoint.join(' ');
    lines.push(`image entrypoint: ${shown} — not run (each container's main process is srun-docker's own sh); if the job needs what it sets up, start it from your script: exec ${shown} python train.py`);
  }
  for (const node of preview.nodes) {
    const c = node.container;
    const h = c.HostConfig ?? {};
    lines.push('', `== ${node.node} (${node.role})`);
    lines.push(`create container ${c.name ?? ''} from ${c.Image ?? ''} as user ${c.User ?? ''}, workdir ${c.WorkingDir ?? ''}, network ${h.NetworkMode ?? ''}`);
    lines.push(`  command: ${[...(c.Entrypoint as string[]), ...(c.Cmd ?? [])].join(' ')}`);
    lines.push(`  mounts: ${(h.Binds ?? []).join(' ')}`);
    lines.push(`  env: ${(c.Env ?? []).join(' ')}`);
    lines.push(`  shm: ${h.ShmSize ?? ''} bytes, ulimits: ${(h.Ulimits ?? []).map((u) => `${u.Name ?? ''}=${u.Soft ?? ''}:${u.Hard ?? ''}`).join(' ')}`);
    if (h.Privileged) lines.push('  privileged');
    if (h.CapAdd?.length) lines.push(`  cap-add: ${h.CapAdd.join(' ')}`);
    if (h.Devices?.length) lines.push(`  devices: ${h.Devices.map((d: Docker.DeviceMapping) => d.PathOnHost).join(' ')}`);
    const r = node.resources;
    lines.push(`  gpus: ${r.gpus.length > 0 ? r.gpus.join(',') : 'none'}, cpuset: ${r.cpuset ?? 'all'}, memory: ${r.memoryBytes === undefined ? 'no limit' : `${Math.round(r.memoryBytes / 1024 ** 2)} MiB`}`);
    lines.push(`  labels: ${Object.entries(c.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    if (node.channelPorts) lines.push(`control channel: the first free of ports ${node.channelPorts.join(' ')}`);
    for (const probe of node.readiness ?? []) lines.push(`readiness: ${probe.join(' ')}`);
    if (node.job) {
      lines.push(`run: ${node.job.command.join(' ')}`);
      lines.push(`  with: ${Object.entries(node.job.env).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    }
  }
  lines.push('', 'assumed (known only at run time):', ...preview.assumptions.map((a) => `  ${a}`));
  return lines.join('\n') + '\n';
}
