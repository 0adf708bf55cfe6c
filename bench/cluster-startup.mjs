// Issue #5, part 1: on the 3-node test cluster, the total time of
//   srun -N3 srun-docker --container=IMG --script=/bin/true
// against the floor on the same nodes, srun -N3 docker run --rm --network=host IMG true, and against
// srun -N3 true — interleaved, repeated, printed as a table with ratios and srun-docker's own phases.
//
//   node bench/cluster-startup.mjs [--runs=7] [--reuse]      (npm run bench:cluster)
// Brings the cluster up (test/cluster/up.sh) unless --reuse, and down afterwards unless --reuse.
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';

const PROJECT = fileURLToPath(new URL('..', import.meta.url));
const IMAGE = 'srun-docker/mpi:bookworm';
const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')).map(([k, v]) => [k, v ?? true]));
const RUNS = Number(args.runs ?? 7);
const REUSE = args.reuse === true;

const variants = {
  'srun -N3 true': ['srun', '-N3', 'true'],
  'srun -N3 docker run --rm --network=host IMG true': ['srun', '-N3', 'docker', 'run', '--rm', '--network=host', IMAGE, 'true'],
  'srun -N3 srun-docker --script=/bin/true': ['srun', '-N3', 'srun-docker', `--container=${IMAGE}`, '--script=/bin/true', '--timings'],
};

async function asAlice(command) {
  const start = performance.now();
  const result = await execa('docker', ['exec', '-e', 'SRUN_DOCKER_PULL=never', '-u', 'alice', '-w', '/home/alice', 'slurmctl', ...command], {
    reject: false,
    all: true,
    timeout: 180_000,
  });
  const ms = performance.now() - start;
  if (result.exitCode !== 0) throw new Error(`exit ${result.exitCode}: ${command.join(' ')}\n${result.all}`);
  return { ms, output: result.all ?? '' };
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
  const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  const phaseRuns = { coordinator: [], worker: [] };
  for (const command of Object.values(variants)) await asAlice(command); // warm-up: page cache, image layers
  for (let run = 0; run < RUNS; run += 1) {
    for (const [name, command] of Object.entries(variants)) {
      const { ms, output } = await asAlice(command);
      times[name].push(ms);
      if (name.includes('srun-docker')) for (const role of ['coordinator', 'worker']) phaseRuns[role].push(...phases(output, role));
    }
  }
  const floor = stats(times['srun -N3 docker run --rm --network=host IMG true']).median;
  const bare = stats(times['srun -N3 true']).median;
  console.log(`\n3-node cluster, ${RUNS} interleaved runs each (ms; wall clock of the whole srun, measured from the host)\n`);
  console.log('| command | median | min | max | / docker run floor | / srun true |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, xs] of Object.entries(times)) {
    const s = stats(xs);
    console.log(`| \`${name}\` | ${s.median.toFixed(0)} | ${s.min.toFixed(0)} | ${s.max.toFixed(0)} | ${(s.median / floor).toFixed(2)} | ${(s.median / bare).toFixed(2)} |`);
  }
  printPhases("srun-docker's own phases on the coordinator", phaseRuns.coordinator);
  printPhases('on the workers (both, every run)', phaseRuns.worker);
} finally {
  if (!REUSE) await execa('bash', [`${PROJECT}test/cluster/down.sh`], { stdio: 'inherit', timeout: 300_000 });
}
