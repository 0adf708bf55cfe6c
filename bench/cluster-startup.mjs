// Issue #5, part 1: on the 3-node test cluster, the total time of
//   srun -N3 srun-docker --container=IMG --script=/bin/true
// against the floor on the same nodes, srun -N3 docker run --rm --network=host IMG true, and against
// srun -N3 true — interleaved, repeated, printed as a table with ratios and srun-docker's own phases.
//
//   node bench/cluster-startup.mjs [--runs=7] [--nodes=3,1] [--homes=plain,caching] [--reuse]
//        [--compare=LABEL=BUNDLE,...] [--ssh] [--ops-seconds=10 | --ops-seconds=0] [--srun-opts=-c2]   (npm run bench:cluster)
// --ssh: the same job with the built-in ssh (--ssh=builtin) in the same rounds, in the same image (which has
// OpenSSH), and its paired ratio to the image's OpenSSH (issue #14's target: within 1.1x).
// --nodes: the job sizes to measure, each against its own floor; 1 shows one node's own overhead,
// without the other nodes' processes competing for this machine's cores.
// --homes: the cluster's shared home, one bring-up each (test/cluster/up.sh with CLUSTER_HOME): plain
// (bind-mounted) and caching (bindfs caching lookups 30 s, like NFS); each home's ratio is paired with
// the floor measured in its own rounds, and a closing table gives both against their targets.
// --ops-seconds: then counts the home operations of a running 3-node job (countHomeOps below).
// Brings the cluster up unless --reuse (then only the home of the cluster that is up), down unless --reuse.
// --compare: other single-file builds (e.g. of an earlier commit) run side by side in the same rounds,
// copied into the cluster's shared home; the paired ratio (each run against the floor of its own
// round) is the figure to compare, as this machine's speed drifts between minutes.
// --srun-opts: srun options for every command of the rounds, floor included (space-separated). `-c2` gives
// each task its node's two CPUs: on this test bed every node's CPU 0 is the same core of the machine, so
// with SLURM's default one core per task (task/affinity) the three nodes' srun-docker processes, and the
// containers it holds to the step's CPUs, all share that one core, where the floor's containers are
// held to nothing (bench/README.md, 4 Dec 19:30).
import { execa } from 'execa';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { extname } from 'node:path';

const PROJECT = fileURLToPath(new URL('..', import.meta.url));
const IMAGE = 'srun-docker/mpi:bookworm';
const args = Object.fromEntries(process.argv.slice(2).map((a) => /^--([^=]+)(?:=(.*))?$/.exec(a)?.slice(1) ?? [a]).map(([k, v]) => [k, v ?? true]));
const RUNS = Number(args.runs ?? 7);
const REUSE = args.reuse === true;

const NODE_COUNTS = String(args.nodes ?? '3,1').split(',').map(Number);
const CLUSTER_STATE = process.env.CLUSTER_STATE ?? '/tmp/srun-docker-cluster';
/** alice's home on this machine (the cluster's /home/alice, or /home-real/alice under the caching home). */
const ALICE_HOME = `${CLUSTER_STATE}/home/alice`;
const OPS_SECONDS = Number(args['ops-seconds'] ?? 10);
const upHome = () => {
  try {
    return readFileSync(`${CLUSTER_STATE}/home-mode`, 'utf8').trim();
  } catch {
    return 'plain';
  }
};
const HOMES = REUSE ? [upHome()] : String(args.homes ?? 'plain,caching').split(',');
const TARGET = { plain: 1.3, caching: 1.5 };
const NODES = ['node1', 'node2', 'node3'];
const COMPARE = args.compare ? String(args.compare).split(',').map((pair) => pair.split('=')) : [];
const BUILTIN = args.ssh === true;
const BUILTIN_NAME = (n) => `${SRUN_DOCKER(n)} --ssh=builtin`;
const SRUN_OPTS = args['srun-opts'] ? String(args['srun-opts']).split(' ').filter(Boolean) : [];
/** `srun [--srun-opts] -N<n>`, as a command and as its label. */
const SRUN = (n) => ['srun', ...SRUN_OPTS, `-N${n}`];
const SRUN_LABEL = (n) => SRUN(n).join(' ');
const SRUN_DOCKER = (n) => `${SRUN_LABEL(n)} srun-docker --script=/bin/true`;
/** Where a --compare build is copied, in the cluster's shared home (its extension kept: .mjs and .cjs builds run differently). */
const compared = (label, path) => `.bench/${label}${extname(path)}`;
/**
 * What a --compare build is run as: a .cjs build through this checkout's dist/launch.cjs, as
 * bin/srun-docker runs dist/ (compiled with V8's code cache on each node, so that it is compared with
 * the installed command on equal terms); an .mjs build as it is.
 */
const launched = (label, path) => (extname(path) === '.cjs' ? `.bench/${label}.launch.cjs` : compared(label, path));
// each build its own cache directory: a launcher keeps one build's cache per directory and removes the others'
const launcherOf = (label, path) =>
  [
    `const { join } = require('node:path');`,
    `const cache = join(require('node:os').tmpdir(), \`srun-docker-code-cache-bench-${label}-\${process.getuid()}\`);`,
    `require(${JSON.stringify(`${PROJECT}dist/launch.cjs`)}).runBundle(join(__dirname, ${JSON.stringify(`${label}${extname(path)}`)}), { ...process.env, SRUN_DOCKER_CODE_CACHE: cache });`,
    '',
  ].join('\n');

/** The three commands on n nodes: srun alone, the floor, srun-docker. */
function variants(n) {
  return {
    [`${SRUN_LABEL(n)} true`]: [...SRUN(n), 'true'],
    [`${SRUN_LABEL(n)} docker run --rm --network=host IMG true`]: [...SRUN(n), 'docker', 'run', '--rm', '--network=host', IMAGE, 'true'],
    [SRUN_DOCKER(n)]: [...SRUN(n), 'srun-docker', `--container=${IMAGE}`, '--script=/bin/true', '--timings'],
    ...(BUILTIN ? { [BUILTIN_NAME(n)]: [...SRUN(n), 'srun-docker', `--container=${IMAGE}`, '--script=/bin/true', '--ssh=builtin'] } : {}),
    ...Object.fromEntries(
      COMPARE.map(([label, path]) => [
        `${SRUN_DOCKER(n)}, build ${label}`,
        [...SRUN(n), 'node', `/home/alice/${launched(label, path)}`, `--container=${IMAGE}`, '--script=/bin/true', '--timings'],
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

const summary = [];
for (const home of HOMES) {
  if (!REUSE) await execa('bash', [`${PROJECT}test/cluster/up.sh`, '3'], { stdio: 'inherit', timeout: 600_000, env: { CLUSTER_HOME: home } });
  try {
    console.log(`\n## ${home} home\n`);
    if (COMPARE.length > 0) mkdirSync(`${ALICE_HOME}/.bench`, { recursive: true });
    for (const [label, path] of COMPARE) {
      copyFileSync(path, `${ALICE_HOME}/${compared(label, path)}`);
      chmodSync(`${ALICE_HOME}/${compared(label, path)}`, 0o644);
      if (launched(label, path) !== compared(label, path)) writeFileSync(`${ALICE_HOME}/${launched(label, path)}`, launcherOf(label, path), { mode: 0o644 });
    }
    // --runs=0: only the count of home operations
    if (RUNS > 0) for (const n of NODE_COUNTS) summary.push({ home, n, ...(await measure(n)) });
    // the count is an extra: a failure of it is printed, and the other home is still measured
    if (OPS_SECONDS > 0) await countHomeOps(home, OPS_SECONDS).catch((error) => console.log(`\ncounting home operations on the ${home} home failed: ${error.message}`));
  } finally {
    rmSync(`${ALICE_HOME}/.bench`, { recursive: true, force: true });
    // each compared build's code cache, whoever's uid the launcher ran as
    for (const node of NODES) for (const [label] of COMPARE) await onNode(node, ['sh', '-c', 'rm -rf "/tmp/srun-docker-code-cache-bench-$1-"[0-9]*', 'sh', label]);
    if (!REUSE) await execa('bash', [`${PROJECT}test/cluster/down.sh`], { stdio: 'inherit', timeout: 300_000 });
  }
}
if (summary.length > 0) {
  console.log(`\nBoth homes: srun-docker's no-op job against the docker run floor of its own rounds (${RUNS} runs each)\n`);
  console.log('| home | nodes | floor median ms | srun-docker median ms | / floor, paired | target | met |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
}
for (const r of summary) {
  const target = r.n === 3 ? TARGET[r.home] : undefined;
  const met = target === undefined ? '' : r.paired <= target ? 'yes' : 'no';
  console.log(`| ${r.home} | ${r.n} | ${r.floor.toFixed(0)} | ${r.srunDocker.toFixed(0)} | ${r.paired.toFixed(2)} | ${target === undefined ? '' : `≤ ${target}`} | ${met} |`);
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
  const sd = times[SRUN_DOCKER(n)];
  return { floor, srunDocker: stats(sd).median, paired: stats(sd.map((x, i) => x / times[floorName][i])).median };
}

async function onNode(node, command, options = {}) {
  return execa('docker', ['exec', node, ...command], { reject: false, all: true, timeout: 120_000, ...options });
}

/**
 * The home operations of a 3-node job, counted two ways with strace on every node:
 * - client: the file-name system calls (stat, open, access, readlink, ...; `-e trace=%file`) of the
 *   node's srun-docker processes that name a path under /home: what the program asks of the home,
 *   cached or not (fd-based reads and writes of files it already opened are not in it);
 * - server (caching home only): the system calls the node's bindfs makes on /home-real, i.e. the
 *   requests the kernel's FUSE cache did not answer — what an NFS client would send to the server.
 * Two windows: one whole no-op job (start to end) and OPS_SECONDS of a job that has started and
 * sleeps (its steady state, per second).
 */
async function countHomeOps(home, seconds) {
  const script = `${ALICE_HOME}/.bench-ops-sleep.sh`;
  writeFileSync(script, `#!/bin/sh\nsleep ${seconds + 4}\n`);
  chmodSync(script, 0o755);
  const job = (s) => ['srun', '-N3', 'srun-docker', `--container=${IMAGE}`, `--script=${s}`];
  try {
    // a whole no-op job: strace the bindfs processes (they live longer than the job) from before srun to after
    const whole = home === 'caching' ? await traceServer(async () => void (await asAlice(job('/bin/true')))) : undefined;
    // steady state: a sleeping job, once every node's container is up and the script runs
    const running = asAlice(job('/home/alice/.bench-ops-sleep.sh'));
    running.catch(() => undefined);
    await waitFor('the sleeping job on every node', 60_000, async () => {
      const ps = await Promise.all(NODES.map((n) => onNode(n, ['docker', 'ps', '-q'])));
      return ps.every((p) => p.stdout.trim() !== '') && (await onNode('node1', ['pgrep', '-u', 'alice', '-f', 'bench-ops-sleep'])).exitCode === 0;
    });
    await sleep(1000);
    const [client, server] = await Promise.all([traceClients(seconds), home === 'caching' ? traceServer(() => sleep(seconds * 1000)) : undefined]);
    await running;
    console.log(`\nHome operations, ${home} home, per node (strace; client: srun-docker's file-name calls on /home; server: bindfs's calls on /home-real)\n`);
    console.log('| node | client ops/s while running | server ops/s while running | server ops for a whole no-op job |');
    console.log('| --- | ---: | ---: | ---: |');
    for (const node of NODES) {
      const c = client[node];
      const srv = server?.[node];
      console.log(`| ${node} | ${(c.total / seconds).toFixed(1)} | ${srv === undefined ? 'n/a (no FUSE layer)' : (srv.total / seconds).toFixed(1)} | ${whole?.[node]?.total ?? 'n/a'} |`);
    }
    for (const node of NODES) {
      const top = Object.entries(client[node].byCall).sort((a, b) => b[1] - a[1]).slice(0, 6);
      console.log(`  ${node} client calls on /home in ${seconds} s: ${top.map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
      const files = Object.entries(client[node].byFile).sort((a, b) => b[1] - a[1]).slice(0, 6);
      console.log(`  ${node} the files: ${files.map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
      if (server) console.log(`  ${node} server calls in ${seconds} s: ${Object.entries(server[node].byCall).sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
    }
  } finally {
    rmSync(script, { force: true });
  }
}

/** strace -c of every node's bindfs while `during` runs: its system calls on /home-real, the FUSE channel's own left out. */
async function traceServer(during) {
  const tracers = await Promise.all(
    NODES.map(async (node) => {
      const pid = (await onNode(node, ['pgrep', '-o', '-x', 'bindfs'])).stdout.trim();
      if (!/^\d+$/.test(pid)) throw new Error(`no bindfs on ${node}`);
      // in the background on the node, so that it can be stopped by its own PID (SIGINT: strace -c then writes its table)
      const started = await onNode(node, ['sh', '-c', 'strace -c -f -q -o /tmp/bench-server.strace -p "$1" </dev/null >/dev/null 2>&1 & echo $!', 'sh', pid]);
      return { node, pid: started.stdout.trim() };
    }),
  );
  await sleep(500); // strace attached to every thread
  await during();
  for (const { node, pid } of tracers) {
    await onNode(node, ['kill', '-INT', pid]);
    await waitFor(`strace ${pid} on ${node} to end`, 15_000, async () => (await onNode(node, ['kill', '-0', pid])).exitCode !== 0);
  }
  const out = {};
  for (const node of NODES) {
    const text = (await onNode(node, ['cat', '/tmp/bench-server.strace'])).stdout;
    const byCall = {};
    for (const m of text.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/gm)) {
      // the FUSE channel (read/writev of /dev/fuse), threads waking each other, and the allocator are no home operations
      // strace's own `total` row too
      if (!['total', 'read', 'writev', 'futex', 'madvise', 'mmap', 'munmap', 'mprotect', 'clone3', 'rt_sigprocmask', 'set_robust_list', 'rseq'].includes(m[2])) byCall[m[2]] = Number(m[1]);
    }
    out[node] = { total: Object.values(byCall).reduce((a, b) => a + b, 0), byCall };
  }
  return out;
}

/** strace -e trace=%file of every srun-docker process on every node for `seconds`: the calls naming /home paths. */
async function traceClients(seconds) {
  const out = {};
  await Promise.all(
    NODES.map(async (node) => {
      const pids = (await onNode(node, ['pgrep', '-u', 'alice', '-f', '^node .*srun-docker'])).stdout.split('\n').filter((l) => /^\d+$/.test(l.trim()));
      const byCall = {};
      const byFile = {};
      if (pids.length > 0) {
        await onNode(node, ['timeout', '-s', 'INT', String(seconds), 'strace', '-f', '-qq', '-e', 'trace=%file', '-o', '/tmp/bench-client.strace', ...pids.flatMap((p) => ['-p', p.trim()])]);
        const text = (await onNode(node, ['cat', '/tmp/bench-client.strace'])).stdout;
        for (const m of text.matchAll(/^(?:\[pid\s+\d+\]\s+|\d+\s+)?(\w+)\((?:[^"\n]*?)"(\/home\/[^"]*)"/gm)) {
          byCall[m[1]] = (byCall[m[1]] ?? 0) + 1;
          // which files: the job's own directory named once for every job
          const file = `${m[1]} ${m[2].replace(/^\/home\/[^/]+\//, '~/').replace(/\/jobs\/[^/]+/, '/jobs/JOB')}`;
          byFile[file] = (byFile[file] ?? 0) + 1;
        }
      }
      out[node] = { total: Object.values(byCall).reduce((a, b) => a + b, 0), byCall, byFile, processes: pids.length };
    }),
  );
  return out;
}

async function waitFor(what, timeoutMs, check) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
