import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAlice, CONTROLLER, MPI_IMAGE, NODES, onCluster, writeAliceFile } from './support/cluster.js';
import { containersOn, processes } from './support/faults.js';
import { deriveNodeImages, ensureNodeImages, removeNodeImages } from './support/images.js';
import { ALLREDUCE_JOB, allreduceRanks, AWAIT_RELEASE, jobLine, readListed, WORK } from './support/jobs.js';
import { useCluster } from './support/use-cluster.js';
import { DROPBEAR_SHA256 } from '../../src/ssh/dropbear-build.js';

useCluster();

/** Images without OpenSSH (test/images/build.sh): srun-docker mounts its own ssh into them. */
const NOSSH_IMAGE = 'srun-docker/mpi-nossh:bookworm';
const BUSYBOX_IMAGE = 'srun-docker/busybox:static';

const SSH_EVERY_NODE = `${WORK}/builtin-ssh-every-node.sh`;
const SCP_JOB = `${WORK}/builtin-ssh-scp.sh`;
const HOLD_JOB = `${WORK}/builtin-ssh-hold.sh`;
const PDSH_JOB = `${WORK}/builtin-ssh-pdsh.sh`;
const BOB_KEY = '/home/bob/builtin-ssh-test/key';
/** As an NGC image sets them (its HPC-X MPI finds its parts by OPAL_PREFIX): the ssh sessions must get them. */
const IMAGE_ENV = ['ENV IMGVAR="from the image" LD_LIBRARY_PATH=/opt/img/lib OPAL_PREFIX=/opt/img/ompi'];
const WITH_ENV = { busybox: 'srun-docker-test/busybox-env:1', mpi: 'srun-docker-test/mpi-env:1' };

beforeAll(async () => {
  await ensureNodeImages([NOSSH_IMAGE, BUSYBOX_IMAGE]);
  await deriveNodeImages(WITH_ENV.busybox, BUSYBOX_IMAGE, { changes: IMAGE_ENV });
  await deriveNodeImages(WITH_ENV.mpi, MPI_IMAGE, { changes: IMAGE_ENV });
  // POSIX sh only: the busybox image has no bash
  await writeAliceFile(
    SSH_EVERY_NODE,
    [
      '#!/bin/sh',
      'for entry in $(echo "$hostlist" | tr , " "); do',
      '  node=${entry%%:*}',
      "  ssh \"$node\" 'echo \"far: $(hostname) uid=$(id -u) MYVAR=$MYVAR np=$np hostlist=$hostlist rank=$NODE_RANK master=$MASTER_ADDR\"; echo \"env: $(hostname) IMGVAR=$IMGVAR LD=$LD_LIBRARY_PATH OPAL=$OPAL_PREFIX DOCKVAR=$DOCKVAR GPUS=$NVIDIA_VISIBLE_DEVICES\"' || echo \"ssh $node failed: $?\"",
      'done',
      '',
    ].join('\n'),
  );
  // node2 → node3 and back, started on the coordinator
  await writeAliceFile(
    SCP_JOB,
    [
      '#!/bin/sh',
      'set -e',
      'echo "payload $$" >/tmp/scp-src',
      'scp /tmp/scp-src node2:/tmp/scp-on-node2',
      "ssh node2 'scp /tmp/scp-on-node2 node3:/tmp/scp-on-node3'",
      'scp node3:/tmp/scp-on-node3 /tmp/scp-back',
      'cmp /tmp/scp-src /tmp/scp-back && echo "scp round trip ok: $(cat /tmp/scp-back)"',
      '',
    ].join('\n'),
  );
  // as DeepSpeed's default launcher runs it: pdsh -S -f 1024 -w HOSTS with PDSH_RCMD_TYPE=ssh (pdsh then
  // runs `ssh -oConnectTimeout=10 -2 -a -x HOST CMD`)
  await writeAliceFile(
    PDSH_JOB,
    [
      '#!/bin/sh',
      'hosts=$(echo "$hostlist" | sed "s/:[0-9]*//g")',
      "PDSH_RCMD_TYPE=ssh pdsh -S -f 1024 -w \"$hosts\" 'echo \"pdsh: $(hostname) np=$np rank=$NODE_RANK\"'",
      // Horovod's ssh with horovodrun -p: options after the host, as OpenSSH takes them
      "ssh -o PasswordAuthentication=no -o StrictHostKeyChecking=no node3 -p \"$sshdport\" 'echo horovod-style: $(hostname)'",
      '',
    ].join('\n'),
  );
  await writeAliceFile(
    HOLD_JOB,
    [
      '#!/bin/sh',
      // written whole under its final name ($2), for the test on the login node to read at once
      'echo "port=$sshdport dir=$sshconfigdir" >"$2.tmp" && mv "$2.tmp" "$2"',
      AWAIT_RELEASE,
      'echo "not released within 120 s"; exit 3',
      '',
    ].join('\n'),
  );
  const bob = await onCluster(CONTROLLER, ['sh', '-c', `rm -rf $(dirname ${BOB_KEY}) && mkdir -p $(dirname ${BOB_KEY}) && ssh-keygen -q -t ed25519 -N '' -C bob -f ${BOB_KEY}`], { user: 'bob' });
  expect(bob.exitCode, bob.all).toBe(0);
}, 600_000);

afterAll(() => removeNodeImages(Object.values(WITH_ENV)), 120_000);

function srunIn(image: string, args: readonly string[], env: readonly string[] = []): ReturnType<typeof asAlice> {
  return asAlice(['env', ...env, 'srun', '-N3', 'srun-docker', `--container=${image}`, ...args], { timeoutMs: 180_000 });
}

describe('the built-in ssh on 3 nodes', () => {
  it('mpi4py allreduce in the MPI image with OpenSSH purged: a plain mpirun -H "$hostlist" -np "$np"', async () => {
    const run = await srunIn(NOSSH_IMAGE, [`--script=${ALLREDUCE_JOB}`, '--verbose']);
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stderr).toContain('ssh: auto: the image has no /usr/sbin/sshd');
    expect(jobLine(run.stdout)).toEqual({ hostlist: 'node1:1,node2:1,node3:1', np: 3, nnodes: 3, host: 'node1' });
    const ranks = allreduceRanks(run.stdout);
    expect(ranks.map((r) => r.rank).sort(), run.all).toEqual([0, 1, 2]);
    for (const r of ranks) expect(r, run.all).toMatchObject({ size: 3, sum: 6, ok: true });
    expect(new Set(ranks.map((r) => r.host))).toEqual(new Set(NODES));
  });

  it.each([
    ['the busybox-only image (the built-in ssh, sh)', WITH_ENV.busybox],
    ["the MPI image (its OpenSSH, bash)", WITH_ENV.mpi],
  ])("%s: ssh nodeN 'echo $(hostname)' reaches every node; --envlist, the job's variables, the image's ENV and --dockopts -e reach the commands, NODE_RANK each node's", async (_name, image) => {
    const run = await srunIn(image, [`--script=${SSH_EVERY_NODE}`, '--envlist=MYVAR', '--dockopts=-e DOCKVAR=from-dockopts'], ['MYVAR=from-alice']);
    expect(run.exitCode, run.all).toBe(0);
    NODES.forEach((node, rank) => {
      expect(run.stdout, run.all).toContain(`far: ${node} uid=1000 MYVAR=from-alice np=3 hostlist=node1:1,node2:1,node3:1 rank=${rank} master=172.30.0.11`);
      // the test bed has no GPUs: NVIDIA_VISIBLE_DEVICES=void, as in the container itself
      expect(run.stdout, run.all).toContain(`env: ${node} IMGVAR=from the image LD=/opt/img/lib OPAL=/opt/img/ompi DOCKVAR=from-dockopts GPUS=void`);
    });
    expect(run.stdout).not.toContain('failed');
  });

  it("pdsh as DeepSpeed's default launcher runs it, and Horovod's ssh with options after the host, reach the nodes over the built-in ssh", async () => {
    const run = await srunIn(NOSSH_IMAGE, [`--script=${PDSH_JOB}`]);
    expect(run.exitCode, run.all).toBe(0);
    NODES.forEach((node, rank) => expect(run.stdout, run.all).toContain(`${node}: pdsh: ${node} np=3 rank=${rank}`));
    expect(run.stdout, run.all).toContain('horovod-style: node3');
  });

  it.each([
    ['the built-in ssh (Dropbear scp, rcp protocol)', NOSSH_IMAGE],
    ["the image's OpenSSH (scp over SFTP)", MPI_IMAGE],
  ])('scp there and back between nodes with %s', async (_name, image) => {
    const run = await srunIn(image, [`--script=${SCP_JOB}`]);
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stdout).toMatch(/scp round trip ok: payload \d+/);
  });
});

describe('security of the built-in ssh', () => {
  it("keys 0600; bob's key is refused by the built-in server; no key in ps or docker inspect", async () => {
    const release = `${WORK}/builtin-release-${Date.now()}`;
    const holdLine = `${WORK}/builtin-hold-${Date.now()}`;
    const job = srunIn(NOSSH_IMAGE, [`--script=${HOLD_JOB}`, '--', release, holdLine]);
    let failure: unknown;
    try {
      const dir = await waitForHoldLine();
      const port = Number(/port=(\d+)/.exec(dir)?.[1]);
      const jobDir = /dir=(\S+)/.exec(dir)?.[1] ?? '';
      const stat = await onCluster(CONTROLLER, ['sh', '-c', 'cd "$1" && stat -c "%a %U %n" nodes/*.dropbear dbclient-home/.ssh/*', 'sh', jobDir], { user: 'root' });
      expect(stat.exitCode, stat.all).toBe(0);
      const lines = stat.stdout.split('\n').filter(Boolean);
      expect(lines.length, stat.stdout).toBe(NODES.length + 2); // each node's host key, the client key and known_hosts
      for (const line of lines) expect(line, stat.stdout).toMatch(/^600 alice /);

      const bob = await onCluster(CONTROLLER, ['ssh', '-p', String(port), '-i', BOB_KEY, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-l', 'alice', 'node2', 'echo should-not-run'], { user: 'bob', timeoutMs: 60_000 });
      expect(bob.exitCode, bob.all).toBe(255);
      expect(bob.all).toMatch(/Permission denied \(publickey\)/);
      expect(bob.stdout).not.toContain('should-not-run');

      // the private keys' bytes, as base64 of the files (the same seeds are in the OpenSSH files)
      const secrets = await onCluster(CONTROLLER, ['sh', '-c', 'cd "$1" && for f in nodes/*.dropbear dbclient-home/.ssh/id_dropbear; do base64 -w0 "$f"; echo; done; grep -hv -- ----- id_ed25519 nodes/*_key', 'sh', jobDir], { user: 'root' });
      const keyLines = secrets.stdout.split('\n').map((l) => l.trim()).filter((l) => l.length > 20);
      expect(keyLines.length).toBeGreaterThanOrEqual(NODES.length + 1);
      for (const host of [CONTROLLER, ...NODES]) {
        const args = (await processes(host)).map((p) => p.args).join('\n');
        if (NODES.includes(host)) expect(args, host).toContain('dropbearmulti dropbear');
        for (const line of keyLines) expect(args.includes(line), `${host}: a private key in ps output`).toBe(false);
      }
      for (const node of NODES) {
        const [container] = await containersOn(node);
        const inspect = await onCluster(node, ['docker', 'inspect', container?.id ?? 'none'], { user: 'root' });
        expect(inspect.exitCode, inspect.all).toBe(0);
        // this daemon reaches the package: the checked binary is mounted (test/docker/root-squash.test.ts: one that cannot)
        expect(inspect.stdout).toContain('/.srun-docker/ssh/dropbearmulti:ro');
        const sum = await onCluster(node, ['docker', 'exec', container?.id ?? 'none', 'sha256sum', '/.srun-docker/ssh/dropbearmulti'], { user: 'root' });
        expect(sum.stdout, sum.all).toContain(DROPBEAR_SHA256);
        for (const line of keyLines) expect(inspect.stdout.includes(line), `${node}: a private key in docker inspect`).toBe(false);
      }
    } catch (error) {
      failure = error;
    }
    await asAlice(['touch', release]);
    const done = await job;
    await asAlice(['rm', '-f', release, holdLine]);
    if (failure !== undefined) throw failure;
    expect(done.exitCode, done.all).toBe(0);

    /**
     * The hold job's line, from the file it names (srun's stdout is read only at the end). Its name is
     * looked for in a listing of its directory, which no home caches, and the file is read only once
     * it is there: asked for before, a home that caches lookups would say "no such file" for 30 s.
     */
    async function waitForHoldLine(): Promise<string> {
      for (let i = 0; i < 180; i++) {
        const seen = await readListed(holdLine);
        if (/^port=\d+ dir=\S+/.test(seen) && (await containersOn('node3')).length > 0) return seen.trim();
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      throw new Error('the hold job did not start within 90 s');
    }
  });
});
