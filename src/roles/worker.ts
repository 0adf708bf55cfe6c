import { resolveNodeAddress } from '../channel/address.js';
import { joinCoordinator, type CoordinatorLink } from '../channel/client.js';
import { channelPorts } from '../channel/ports.js';
import { channelWarner, readJobSecret } from './coordination.js';
import type { HeldInput } from '../docker/client.js';
import { LaunchError } from '../platform/errors.js';
import { resolveSlots } from '../slurm/slots.js';
import { ResourceScope } from '../platform/scope.js';
import { sessionEnvScript } from '../ssh/session-shell.js';
import { containerStopped, ownSshdListens, prepareNode, sshdNetDir, startNodeContainer, type NodeContext, type NodeDeps } from './node-container.js';

/** How long a worker waits for its own sshd to listen before it reports it up anyway (the coordinator's login decides). */
const SSHD_LISTEN_MAX_MS = 10_000;
/**
 * How long a worker that does not find the --script tries to reach the coordinator: long enough for
 * a coordinator that found it to open its channel, short, as every node of a mistyped path waits it.
 */
const SCRIPT_NOT_FOUND_JOIN_MS = 3_000;
/** How long the teardown lets this node's container end by itself once its input is closed, before it removes it by force. */
const OWN_EXIT_GRACE_MS = 2_000;

/**
 * Every other node: joins the coordinator's control channel while it looks at the image, makes its
 * own sshd host key and config once the coordinator has said the job directory exists, starts its
 * container (whose input it holds: the container ends with this process), says its sshd is up, and
 * keeps the container until the coordinator says done — or is gone.
 */
export async function runWorker(deps: NodeDeps, ctx: NodeContext): Promise<number> {
  const { plan } = ctx;
  const { log } = deps;
  const scope = new ResourceScope(log);
  const onAbort = (): void => void scope.close();
  deps.signal.addEventListener('abort', onAbort, { once: true });
  // the link, once joined, is undone last: the goodbye, and with the coordinator gone (a lost
  // channel, or srun's SIGTERM once the coordinator's task died) the job directory with its keys,
  // which nobody else is left to remove
  const joining = scope.adoptPending(
    'say goodbye, remove the job directory if orphaned',
    deps.timings.measure('channel', () => join(deps, ctx)),
    async (link) => {
      const orphaned = !link.coordinatorThere(); // asked before the link closes
      link.send({ t: 'bye' });
      link.close();
      if (orphaned) await deps.fs.remove(plan.jobDir.root);
    },
  );
  const nodeDeps: NodeDeps = { ...deps, warnOnce: channelWarner(joining, log) };
  ctx.earlyWarnings.forEach((message) => nodeDeps.warnOnce(message, message));
  try {
    if (ctx.scriptNotFound !== undefined) {
      // only the coordinator runs the script: a coordinator that answers found it, and this node's
      // home still says "no such file" from an earlier look (NFS caches it for 30-60 s)
      await joining;
      log.verbose(`${plan.scriptPath} is not there on this node, but the coordinator found it: going on (a home that caches lookups)`);
    }
    const prepared = await deps.timings.measure('prepare', () => prepareNode(nodeDeps, ctx, joining.then(() => undefined)));
    const link = await joining;
    const slots = resolveSlots(ctx.options.slotsPerNode, ctx.gpus, deps.runner, deps.fs);
    slots.catch(() => undefined); // awaited below, unless the container start fails first
    let held: HeldInput | undefined;
    let exited = false;
    const containerId = await deps.timings.measure('container', () =>
      startNodeContainer(nodeDeps, ctx, prepared, scope, {
        terminal: false,
        beforeStart: async (id) => {
          // a container whose start failed is removed and made again (a ulimit, a mount): only the last one's end counts
          const mine = await deps.docker.holdInput(id);
          held = mine;
          void mine.exited.then(() => {
            if (held === mine) exited = true;
          });
        },
        ending: async () => {
          held?.release();
          if (held !== undefined) await Promise.race([held.exited, deps.clock.sleep(OWN_EXIT_GRACE_MS, { ref: false })]);
        },
        removed: async () => held?.removed,
      }),
    );
    const container = held ?? unheld();
    const netDir = await sshdNetDir(deps, ctx, containerId);
    const listening = await deps.timings.measure('sshd', () => ownSshdListens(deps, plan, SSHD_LISTEN_MAX_MS, async () => !exited, netDir));
    if (!listening && exited) throw await containerStopped(deps.fs, plan);
    link.send({ t: 'up', port: plan.port, slots: await slots, hostKey: prepared.hostKey, address: link.localAddress });
    // written by this node itself, so its own host never holds a "no such file" for it from before
    void link.env
      .then((env) => deps.fs.writeFile(prepared.session.env, sessionEnvScript(env, plan.nodes.indexOf(plan.node), prepared.containerVariables), 0o600))
      .then(
        () => link.send({ t: 'env-written' }),
        (error: unknown) => link.send({ t: 'failed', error: `cannot write its ssh sessions' variables: ${error instanceof Error ? error.message : String(error)}` }),
      );
    const end = await Promise.race([link.ended, container.exited.then(() => 'container-exited' as const)]);
    if (end === 'container-exited') throw await containerStopped(deps.fs, plan);
    if ('lost' in end) {
      log.warn(`the coordinator ${plan.nodes[0] ?? ''} is gone (control channel ${end.lost}); removing this node's container and the job's keys`);
    } else log.verbose(`leaving: the job is over (${end.done})`);
    return 0;
  } catch (error) {
    deps.signal.throwIfAborted();
    const link = await joining.catch(() => undefined);
    link?.send({ t: 'failed', error: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    deps.signal.removeEventListener('abort', onAbort);
    await deps.timings.measure('teardown', () => scope.close());
  }
}

/** Finds the coordinator on its channel and proves this node knows the job's secret. */
async function join(deps: NodeDeps, ctx: NodeContext): Promise<CoordinatorLink> {
  const { plan } = ctx;
  const coordinator = plan.nodes[0] ?? '';
  const deadline = deps.clock.now() + ctx.options.timeoutSeconds * 1000;
  // only the search for a coordinator is cut short: one that said hello found the script
  const searchDeadline = ctx.scriptNotFound === undefined ? deadline : deps.clock.now() + SCRIPT_NOT_FOUND_JOIN_MS;
  let address: Promise<string> | undefined;
  const joined = joinCoordinator({
    job: `${plan.jobId}.${plan.stepId}`,
    node: plan.node,
    dir: plan.jobDir.root,
    coordinator,
    // looked up once; a name that does not resolve is asked again next round (SLURM may be slow to answer)
    address: () => {
      address ??= resolveNodeAddress(coordinator, deps.runner);
      address.catch(() => (address = undefined));
      return address;
    },
    ports: channelPorts(plan.jobId, plan.stepId),
    readSecret: () => readJobSecret(deps.fs, plan.jobDir, deadline, deps.clock),
    deadline: searchDeadline,
    clock: deps.clock,
    signal: deps.signal,
    onImpostor: (port, reason) => deps.log.verbose(`port ${port} on ${coordinator} is not this job's control channel (${reason}); trying the next`),
  });
  const missing = ctx.scriptNotFound;
  const link = await (missing === undefined
    ? joined
    : joined.catch((error: unknown) => {
        deps.signal.throwIfAborted();
        // no coordinator: it did not find the script either (a mistyped path), and says so itself
        deps.log.verbose(`no coordinator answered within ${SCRIPT_NOT_FOUND_JOIN_MS / 1000} s (${error instanceof Error ? error.message : String(error)})`);
        throw missing;
      }));
  deps.log.verbose(`joined the coordinator ${coordinator} on port ${link.port}`);
  return link;
}

function unheld(): never {
  throw new LaunchError('the container started without its input held');
}
