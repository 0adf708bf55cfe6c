// Issue #5, part 1: on the 3-node test cluster, the total time of
//   srun -N3 srun-docker --container=IMG --script=/bin/true
// against the floor on the same nodes, srun -N3 docker run --rm --network=host IMG true, and against
// srun -N3 true — interleaved, repeated, printed as a table with ratios and srun-docker's own phases.
//
//   node bench/cluster-startup.mjs [--runs=7] [--nodes=3,1] [--reuse] [--compare=LABEL=BUNDLE,...] [--ssh]   (npm run bench:cluster)
// --ssh: the same job with the built-in ssh (--ssh=builtin) in the same rounds, in the same image (which has
// OpenSSH), and its paired ratio to the image's OpenSSH (issue #14's target: within 1.1x).
// --nodes: the job sizes to measure, each against its own floor; 1 shows one node's own overhead,
// without the other nodes' processes competing for this machine's cores.
// Brings the cluster up (test/cluster/up.sh) unless --reuse, and down afterwards unless --reuse.
// --compare: other single-file builds (e.g. of an earlier commit) run side by side in the same rounds,
// copied into the cluster's shared home; the paired ratio (each run against the floor of its own
// round) is the figure to compare, as this machine's speed drifts between minutes.
import { execa } from 'execa';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { extname } from 'node:path';

const PROJECT = fileURLToPath(new URL('..', import.meta.url));
const IMAGE = 'srun-docker/mpi:bookworm';
const args = Object.fromEntries(process.argv.slice(2).map((a) => /^--([^=]+)(?:=(.*))?$/.exec(a)?.slice(1) ?? [a]).map(([k, v]) => [k, v ?? true]));
const RUNS = Number(args.runs ?? 7);
const REUSE = args.reuse === true;

const NODE_COUNTS = String(args.nodes ?? '3,1').split(',').map(Number);
const CLUSTER_HOME = '/tmp/srun-docker-cluster/home/alice';
const COMPARE = args.compare ? String(args.compare).split(',').map((pair) => pair.split('=')) : [];
const BUILTIN = args.ssh === true;
const BUILTIN_NAME = (n) => `${SRUN_DOCKER(n)} --ssh=builtin`;
const SRUN_DOCKER = (n) => `srun -N${n} srun-docker --script=/bin/true`;
/** Where a --compare build is copied, in the cluster's shared home (its extension kept: .mjs and .cjs builds run differently). */
const compared = (label, path) => `.bench/${label}${extname(path)}`;

/** The three commands on n nodes: srun alone, the floor, srun-docker. */
function variants(n) {
  return {
    [`srun -N${n} true`]: ['srun', `-N${n}`, 'true'],
    [`srun -N${n} docker run --rm --network=host IMG true`]: ['srun', `-N${n}`, 'docker', 'run', '--rm', '--network=host', IMAGE, 'true'],
    [SRUN_DOCKER(n)]: ['srun', `-N${n}`, 'srun-docker', `--container=${IMAGE}`, '--script=/bin/true', '--timings'],
    ...(BUILTIN ? { [BUILTIN_NAME(n)]: ['srun', `-N${n}`, 'srun-docker', `--container=${IMAGE}`, '--script=/bin/true', '--ssh=builtin'] } : {}),
    ...Object.fromEntries(
      COMPARE.map(([label, path]) => [
        `${SRUN_DOCKER(n)}, build ${label}`,
        ['srun', `-N${n}`, 'node', `/home/alice/${compared(label, path)}`, `--container=${IMAGE}`, '--script=/bin/true', '--timings'],
      ]),
    ),
  };
}

/** CPU time the whole machine spent (user + system, every process: the cluster's nodes are containers here), ms. */
function machineCpuMs() {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq] = fields.map(Number);
  return ((user + nice + system + irq + softirq) * 1000) / 100; // USER_HZ = 100
}

async function asAlice(command) {
  const cpuBefore = machineCpuMs();
  const start = performance.now();
  const result = await execa('docker', ['exec', '-e', 'SRUN_DOCKER_PULL=never', '-u', 'alice', '-w', '/home/alice', 'slurmctl', ...command], {
    reject: false,
    all: true,
    timeout: 180_000,
  });
  const ms = performance.now() - start;
  const cpuMs = machineCpuMs() - cpuBefore;
  if (result.exitCode !== 0) throw new Error(`exit ${result.exitCode}: ${command.join(' ')}\n${result.all}`);
  return { ms, cpuMs, output: result.all ?? '' };
}

/** Every `srun-docker[NODE ROLE]: timings: a=1ms b=2ms ... total=3ms` line of one role. */
function phases(output, role) {
  return output
    .split('\n')
    .filter((l) => l.includes(`${role}]: timings:`))
    .map((line) => Object.fromEntries([...line.matchAll(/(\S+)=(\d+)ms/g)].map((m) => [m[1], Number(m[2])])));
}

function printPhases(title, runs) {
  const names = [...new Set(runs.flatMap((p) => Object.keys(p)))];
  console.log(`\n${title} (--timings, ms over ${runs.length} lines)\n`);
  console.log('| phase | median | min | max |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const name of names) {
    const s = stats(runs.map((p) => p[name] ?? 0));
    console.log(`| ${name} | ${s.median} | ${s.min} | ${s.max} |`);
  }
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] };
};

if (!REUSE) await execa('bash', [`${PROJECT}test/cluster/up.sh`, '3'], { stdio: 'inherit', timeout: 600_000 });
try {
  if (COMPARE.length > 0) mkdirSync(`${CLUSTER_HOME}/.bench`, { recursive: true });
  for (const [label, path] of COMPARE) {
    copyFileSync(path, `${CLUSTER_HOME}/${compared(label, path)}`);
    chmodSync(`${CLUSTER_HOME}/${compared(label, path)}`, 0o644);
  }
  for (const n of NODE_COUNTS) await measure(n);
} finally {
  rmSync(`${CLUSTER_HOME}/.bench`, { recursive: true, force: true });
  if (!REUSE) await execa('bash', [`${PROJECT}test/cluster/down.sh`], { stdio: 'inherit', timeout: 300_000 });
}

async function measure(n) {
  const commands = variants(n);
  const [bareName, floorName] = Object.keys(commands);
  const times = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
  const cpu = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
  const phaseRuns = { coordinator: [], worker: [] };
  for (const command of Object.values(commands)) await asAlice(command); // warm-up: page cache, image layers
  for (let run = 0; run < RUNS; run += 1) {
    for (const [name, command] of Object.entries(commands)) {
      const { ms, cpuMs, output } = await asAlice(command);
      times[name].push(ms);
      cpu[name].push(cpuMs);
      if (name === SRUN_DOCKER(n)) for (const role of ['coordinator', 'worker']) phaseRuns[role].push(...phases(output, role));
    }
  }
  const floor = stats(times[floorName]).median;
  const bare = stats(times[bareName]).median;
  console.log(`\n${n}-node job on the 3-node cluster, ${RUNS} interleaved runs each (ms; wall clock of the whole srun, measured from the host)\n`);
  console.log('| command | median | min | max | / docker run floor | / floor, paired | / srun true | machine CPU ms (median) |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, xs] of Object.entries(times)) {
    const s = stats(xs);
    const c = stats(cpu[name]).median;
    // each run against the floor measured in the same round: steadier than a ratio of medians when the machine drifts
    const paired = stats(xs.map((x, i) => x / times[floorName][i])).median;
    console.log(`| \`${name}\` | ${s.median.toFixed(0)} | ${s.min.toFixed(0)} | ${s.max.toFixed(0)} | ${(s.median / floor).toFixed(2)} | ${paired.toFixed(2)} | ${(s.median / bare).toFixed(2)} | ${c.toFixed(0)} |`);
  }
  if (BUILTIN) {
    const paired = stats(times[BUILTIN_NAME(n)].map((x, i) => x / times[SRUN_DOCKER(n)][i])).median;
    console.log(`\nbuilt-in ssh / the image's OpenSSH, paired by round: ${paired.toFixed(2)}x`);
  }
  printPhases(`srun-docker's own phases on the coordinator, ${n} node(s)`, phaseRuns.coordinator);
  if (phaseRuns.worker.length > 0) printPhases(`on the workers, ${n} nodes (every worker, every run)`, phaseRuns.worker);
}
