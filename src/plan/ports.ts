import { createServer } from 'node:net';
import { LaunchError } from '../platform/errors.js';

/**
 * Ports a job step uses on every node when the user gave none: sshd's and MASTER_PORT. Each is an
 * ordered list of candidates derived from the job and step ids alone, so every node computes the
 * same list, and a node that finds the first taken can move to the next one its peers will also try.
 * Both ranges lie below Linux's ephemeral range (32768+), so an outgoing connection cannot be holding
 * a port, and apart from each other, so a step's two ports never collide.
 */
const CANDIDATES = 8;

/**
 * Ports that services common on clusters listen on (checked when the port is picked, not only by
 * bind: a service that is down now may come up during the job), plus srun-docker's own fixed
 * --sshconfigdir port and torch's defaults, which other users' jobs on a shared node bind.
 */
export const AVOIDED_PORTS: ReadonlySet<number> = new Set([
  ...range(2375, 2376), // Docker's TCP API
  ...range(2379, 2380), // etcd
  3000, // Grafana
  ...range(6817, 6820), // slurmctld, slurmd, slurmdbd, slurmrestd
  8080, 8888, // web UIs, Jupyter
  10_000, // Webmin, NDMP
  10_001, // Ray client
  ...range(10_050, 10_051), // Zabbix
  ...range(10_250, 10_259), // kubelet, kube-proxy, kube-scheduler, kube-controller-manager
  11_211, // memcached
  12_345, // srun-docker's own --sshconfigdir default
  15_672, // RabbitMQ management
  18_080, // Spark history server
  19_999, // Netdata
  ...range(24_007, 24_008), // GlusterFS
  25_672, // RabbitMQ clustering
  ...range(27_017, 27_019), // MongoDB
  29_400, // torch.distributed.elastic's c10d rendezvous default
  29_500, // torch.distributed's (and DeepSpeed's) default MASTER_PORT
]);

const SSHD_RANGE = usablePorts(10_000, 19_999);
const MASTER_RANGE = usablePorts(20_000, 29_999);

/** sshd's ports to try, in order, for a job step: the first is the default. */
export function sshdPortCandidates(jobId: string, stepId: string): number[] {
  return candidates(SSHD_RANGE, jobId, stepId);
}

/** torch.distributed's rendezvous ports to try, in order, for a job step: the first is the default. */
export function masterPortCandidates(jobId: string, stepId: string): number[] {
  return candidates(MASTER_RANGE, jobId, stepId);
}

/** The first candidate: what every node uses unless it is taken. */
export function defaultSshdPort(jobId: string, stepId: string): number {
  return sshdPortCandidates(jobId, stepId)[0] ?? 10_000;
}

export function defaultMasterPort(jobId: string, stepId: string): number {
  return masterPortCandidates(jobId, stepId)[0] ?? 20_000;
}

/**
 * (job + step × STEP_STRIDE) mod a prime P, as an index into the range's ports that are not avoided
 * (so no port is skipped onto a neighbour's): two job steps of the same step number whose job ids
 * are less than P (~9,900) apart never share a first candidate — the jobs sharing a node at one time
 * are close in id; the old `job × 7 mod 10,000` sent jobs 10,000 apart to one port — and the stride,
 * near the golden ratio of P, keeps step k of one job far from step 0 of its neighbours. The next
 * candidates walk the range by a second stride.
 */
function candidates(ports: readonly number[], jobId: string, stepId: string): number[] {
  const size = largestPrimeAtMost(ports.length);
  const stepStride = Math.round(size * 0.618_034);
  const walkStride = Math.round(size * 0.381_966) + 1;
  let index = (idNumber(jobId) % size + (idNumber(stepId) % size) * stepStride) % size;
  const out: number[] = [];
  for (let i = 0; i < CANDIDATES; i++) {
    out.push(ports[index] ?? ports[0] ?? 0);
    index = (index + walkStride) % size;
  }
  return out;
}

function usablePorts(from: number, to: number): number[] {
  return range(from, to).filter((port) => !AVOIDED_PORTS.has(port));
}

function largestPrimeAtMost(n: number): number {
  const isPrime = (k: number): boolean => {
    for (let d = 2; d * d <= k; d++) if (k % d === 0) return false;
    return k >= 2;
  };
  let k = n;
  while (k > 2 && !isPrime(k)) k--;
  return k;
}

/** Numeric ids as themselves (consecutive ids stay apart); others (`batch`, `local-PID`) hashed. */
function idNumber(id: string): number {
  const digits = /^(?:local-)?(\d+)$/.exec(id)?.[1];
  if (digits !== undefined) return Number(BigInt(digits) % 1_000_000_007n);
  let hash = 0x811c9dc5;
  for (const ch of id) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return hash;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

export class PortInUseError extends LaunchError {
  override readonly name = 'PortInUseError';
  constructor(
    readonly port: number,
    readonly node: string,
  ) {
    super(`port ${port} is already in use on ${node} — pass another --sshdport, or leave it out to use one derived from the job id`);
  }
}

/** The containers use the host network, so a free host port is a free container port. */
export async function assertPortFree(port: number, node: string): Promise<void> {
  if (!(await isPortFree(port))) throw new PortInUseError(port, node);
}

/** Whether nothing listens on the port on this host (a bind that is refused for another reason is an error). */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve(false);
      else reject(error);
    });
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The first of the candidates that is free on this host; the first one when none is (its bind will say so). */
export async function firstFreePort(candidatePorts: readonly number[]): Promise<number> {
  for (const port of candidatePorts) {
    if (await isPortFree(port)) return port;
  }
  return candidatePorts[0] ?? 0;
}
