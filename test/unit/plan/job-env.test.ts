import { describe, expect, it } from 'vitest';
import { buildJobEnv, hostfiles, hostlist, jobEnvScript, openMpiHostfile, type JobEnvInput, type NodeSlots } from '../../../src/plan/job-env.js';
import { jobDirFor } from '../../../src/plan/jobdir.js';

const DIR = jobDirFor('/home/alice', '77', '0');
const NODES: NodeSlots[] = [
  { node: 'n1', slots: 2 },
  { node: 'n2', slots: 2 },
];

function input(overrides: Partial<JobEnvInput> = {}): JobEnvInput {
  return {
    nodes: NODES,
    port: 12001,
    masterPort: 23456,
    dir: DIR,
    scriptPath: '/home/alice/job.sh',
    scriptArgs: ['--epochs=5', 'x'],
    envlist: {},
    imagePath: '/usr/local/bin:/usr/bin',
    ...overrides,
  };
}

describe('hostlist and hostfile', () => {
  it.each<[string, NodeSlots[], string, string]>([
    ['two nodes', NODES, 'n1:2,n2:2', 'n1 slots=2\nn2 slots=2\n'],
    ['one node', [{ node: 'dgx01', slots: 8 }], 'dgx01:8', 'dgx01 slots=8\n'],
    ['uneven slots', [{ node: 'a', slots: 1 }, { node: 'b', slots: 4 }, { node: 'c', slots: 3 }], 'a:1,b:4,c:3', 'a slots=1\nb slots=4\nc slots=3\n'],
  ])('%s', (_name, nodes, list, file) => {
    expect(hostlist(nodes)).toBe(list);
    expect(openMpiHostfile(nodes)).toBe(file);
  });
});

describe('buildJobEnv: injected variables', () => {
  it('injects every documented variable (zero set-up)', () => {
    const env = buildJobEnv(input());
    expect(env).toMatchObject({
      hostlist: 'n1:2,n2:2',
      np: '4',
      NNODES: '2',
      NODE_RANK: '0',
      HOSTFILE: DIR.hostfile,
      MASTER_ADDR: 'n1',
      MASTER_PORT: '23456',
      sshconfigdir: DIR.root,
      sshdport: '12001',
      scriptpath: '/home/alice/job.sh',
      remainargs: '--epochs=5:x',
    });
  });

  it.each<[string, NodeSlots[], string, string]>([
    ['np sums uneven slots', [{ node: 'a', slots: 1 }, { node: 'b', slots: 7 }], '8', '2'],
    ['one node', [{ node: 'a', slots: 3 }], '3', '1'],
  ])('%s', (_name, nodes, np, nnodes) => {
    const env = buildJobEnv(input({ nodes }));
    expect(env.np).toBe(np);
    expect(env.NNODES).toBe(nnodes);
    expect(env.MASTER_ADDR).toBe('a');
  });

  it('remainargs is empty without pass-through args', () => {
    expect(buildJobEnv(input({ scriptArgs: [] })).remainargs).toBe('');
  });

  it('zero set-up puts the job bin dir first on PATH and sets the rsh agent', () => {
    const env = buildJobEnv(input());
    expect(env.PATH).toBe(`${DIR.binDir}:/usr/local/bin:/usr/bin`);
    expect(env.OMPI_MCA_plm_rsh_agent).toBe(DIR.sshWrapper);
  });

  it('original mode: the user dir, the image PATH untouched and no rsh agent', () => {
    const env = buildJobEnv(input({ sshconfigdir: '/home/alice/.sshcont' }));
    expect(env.sshconfigdir).toBe('/home/alice/.sshcont');
    expect(env).not.toHaveProperty('PATH');
    expect(env).not.toHaveProperty('OMPI_MCA_plm_rsh_agent');
  });

  it('keeps Open MPI off docker0 and loopback by default', () => {
    const env = buildJobEnv(input());
    expect(env.OMPI_MCA_btl_tcp_if_exclude).toBe('lo,docker0');
    expect(env.OMPI_MCA_oob_tcp_if_exclude).toBe('lo,docker0');
  });

  it.each<[string, string]>([
    ['OMPI_MCA_btl_tcp_if_include', 'OMPI_MCA_btl_tcp_if_exclude'],
    ['OMPI_MCA_oob_tcp_if_include', 'OMPI_MCA_oob_tcp_if_exclude'],
  ])('a user\'s %s (--envlist) drops the default %s (Open MPI refuses both), the other default stays', (include, exclude) => {
    const env = buildJobEnv(input({ envlist: { [include]: 'eth0' } }));
    expect(env[include]).toBe('eth0');
    expect(env).not.toHaveProperty(exclude);
    const other = exclude.includes('btl') ? 'OMPI_MCA_oob_tcp_if_exclude' : 'OMPI_MCA_btl_tcp_if_exclude';
    expect(env[other]).toBe('lo,docker0');
  });

  it('ENVLIST names the --envlist variables, each also set', () => {
    const env = buildJobEnv(input({ envlist: { A: '1', B: 'two words' } }));
    expect(env.ENVLIST).toBe('A,B');
    expect(env.A).toBe('1');
    expect(env.B).toBe('two words');
  });

  it('no ENVLIST without --envlist', () => {
    expect(buildJobEnv(input())).not.toHaveProperty('ENVLIST');
  });

  it.each<[string]>([['OMPI_MCA_btl_tcp_if_exclude'], ['OMPI_MCA_plm_rsh_agent'], ['PATH'], ['MASTER_PORT']])(
    "the user's --envlist value of %s wins over the default",
    (name) => {
      expect(buildJobEnv(input({ envlist: { [name]: 'mine' } }))[name]).toBe('mine');
    },
  );
});

describe('other launchers', () => {
  it('point MPICH, Intel MPI and DeepSpeed at their host files and give torchrun its per-node count', () => {
    expect(buildJobEnv(input({ nodes: [{ node: 'a', slots: 4 }, { node: 'b', slots: 4 }] }))).toMatchObject({
      HOSTFILE_MPICH: DIR.mpichHostfile,
      HYDRA_HOST_FILE: DIR.mpichHostfile,
      I_MPI_HYDRA_HOST_FILE: DIR.mpichHostfile,
      DEEPSPEED_HOSTFILE: DIR.hostfile,
      NPROC_PER_NODE: '4',
    });
  });

  it('hostfiles: Open MPI and MPICH formats, by path', () => {
    expect(hostfiles(NODES, DIR)).toEqual(
      new Map([
        [DIR.hostfile, 'n1 slots=2\nn2 slots=2\n'],
        [DIR.mpichHostfile, 'n1:2\nn2:2\n'],
      ]),
    );
  });
});

describe('buildJobEnv: root callers', () => {
  it('lets Open MPI run as root only when the caller is root', () => {
    expect(buildJobEnv(input({ asRoot: true }))).toMatchObject({ OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' });
    for (const asRoot of [false, undefined]) {
      const env = buildJobEnv(input({ asRoot }));
      expect(env).not.toHaveProperty('OMPI_ALLOW_RUN_AS_ROOT');
      expect(env).not.toHaveProperty('OMPI_ALLOW_RUN_AS_ROOT_CONFIRM');
    }
  });
});


describe('jobEnvScript', () => {
  it('one export per variable, each value in single quotes with its own quotes closed and escaped', () => {
    expect(jobEnvScript({ A: '1', B: "it's", C: '' })).toBe("export A='1'\nexport B='it'\\''s'\nexport C=''\n");
  });

  it("with the job's working directory, changes into it first, or the job does not run", () => {
    expect(jobEnvScript({ A: '1' }, "/scratch/al'ice/run")).toBe("cd -- '/scratch/al'\\''ice/run' || exit 1\nexport A='1'\n");
  });

  it('leaves out names sh cannot export (only --envlist can bring them; they are in the container environment already)', () => {
    expect(jobEnvScript({ 'my.var': 'x', '1A': 'y', _ok: 'z' })).toBe("export _ok='z'\n");
  });
});
