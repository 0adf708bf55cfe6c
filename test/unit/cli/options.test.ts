import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/platform/errors.js';
import { DEFAULT_TIMEOUT_SECONDS, parseRunArgs, type ParsedCommand, type RunOptions } from '../../../src/cli/options.js';

const REQUIRED = ['--container=img:1', '--script=job.sh'];

async function options(...args: string[]): Promise<RunOptions> {
  const parsed = await parseRunArgs([...REQUIRED, ...args]);
  if (parsed.kind !== 'run') throw new Error(`expected a run command, got ${parsed.kind}`);
  return parsed.options;
}

async function usageError(argv: string[]): Promise<UsageError> {
  const error: unknown = await parseRunArgs(argv).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof UsageError)) throw new Error(`expected a UsageError, got ${String(error)}`);
  return error;
}

describe('parseRunArgs: defaults', () => {
  it('gives the documented defaults with only the required options', async () => {
    expect(await options()).toEqual({
      container: 'img:1',
      script: 'job.sh',
      scriptArgs: [],
      scriptHelp: false,
      dockname: undefined,
      datamnts: [],
      envlist: [],
      privileged: false,
      ibdevices: false,
      dockopts: '',
      slotsPerNode: undefined,
      nodelist: undefined,
      sshconfigdir: undefined,
      sshdport: undefined,
      timeoutSeconds: DEFAULT_TIMEOUT_SECONDS,
      pull: 'missing',
      ssh: 'auto',
      timings: false,
      dryRun: false,
      json: false,
      logLevel: 'normal',
    });
  });
});

describe('parseRunArgs: every option in --name=value form', () => {
  it.each<[string, Partial<RunOptions>]>([
    ['--dockname=my-box', { dockname: 'my-box' }],
    ['--datamnts=/data,/scratch:/s:ro', { datamnts: ['/data', '/scratch:/s:ro'] }],
    ['--datamnts= /a , ,/b ', { datamnts: ['/a', '/b'] }],
    ['--envlist=A,B_2', { envlist: ['A', 'B_2'] }],
    ['--privileged', { privileged: true }],
    ['--privileged=true', { privileged: true }],
    ['--privileged=false', { privileged: false }],
    ['--ibdevices', { ibdevices: true }],
    ['--dockopts=--ipc=host', { dockopts: '--ipc=host' }],
    ['--slots_per_node=8', { slotsPerNode: 8 }],
    ['--nodelist=dgx[02-03]', { nodelist: 'dgx[02-03]' }],
    ['--sshconfigdir=~/.sshcont', { sshconfigdir: '~/.sshcont' }],
    ['--sshdport=2222', { sshdport: 2222 }],
    ['--sshdport=65535', { sshdport: 65535 }],
    ['--timeout=60', { timeoutSeconds: 60 }],
    ['--pull=never', { pull: 'never' }],
    ['--pull=always', { pull: 'always' }],
    ['--pull=missing', { pull: 'missing' }],
    ['--timings', { timings: true }],
    ['--dry-run', { dryRun: true, json: false }],
    ['--json', { json: true }],
    ['--verbose', { logLevel: 'verbose' }],
    ['--quiet', { logLevel: 'quiet' }],
    ['--script_help', { scriptHelp: true, scriptArgs: ['--help'] }],
  ])('%s', async (arg, expected) => {
    expect(await options(arg)).toMatchObject(expected);
  });

  it('reads --container and --script', async () => {
    const parsed = await parseRunArgs(['--container=nvcr.io/org/pytorch:24.01', '--script=./train.sh']);
    expect(parsed).toMatchObject({ kind: 'run', options: { container: 'nvcr.io/org/pytorch:24.01', script: './train.sh' } });
  });

  it('keeps "=" and spaces inside a value', async () => {
    const o = await options('--dockopts=--ipc=host -e A=B', '--dockname=a=b c');
    expect(o.dockopts).toBe('--ipc=host -e A=B');
    expect(o.dockname).toBe('a=b c');
  });

  it('the last of a repeated option wins', async () => {
    expect((await options('--dockname=first', '--dockname=second')).dockname).toBe('second');
  });
});

describe('parseRunArgs: pass-through arguments', () => {
  it.each<[string, string[], string[]]>([
    ['unknown --flags', ['--epochs=5', '--lr=0.1'], ['--epochs=5', '--lr=0.1']],
    ['args after --', ['--', 'a', '--b=c', 'd e'], ['a', '--b=c', 'd e']],
    ['unknown flags first, then args after --, in order', ['--epochs=5', '--', 'x', '--y'], ['--epochs=5', 'x', '--y']],
    ['known option names after -- belong to the script', ['--', '--container=other', '--timeout=x'], ['--container=other', '--timeout=x']],
    ['--help after -- goes to the script', ['--', '--help'], ['--help']],
    ['--version after -- goes to the script', ['--', '--version'], ['--version']],
    ['--script_help appends --help last', ['--script_help', '--epochs=5', '--', 'x'], ['--epochs=5', 'x', '--help']],
    ['numbers stay strings as written', ['--', '007', '1e3'], ['007', '1e3']],
    ['unknown short flags and their values', ['-np', '4', '-xvf'], ['-np', '4', '-xvf']],
    ['unknown --flag VALUE keeps both, in order', ['--lr=1e-3', '--epochs', '5'], ['--lr=1e-3', '--epochs', '5']],
    ['no negation, dots or camel-case games', ['--no-cuda', '--foo.bar=1', '--foo-bar=2'], ['--no-cuda', '--foo.bar=1', '--foo-bar=2']],
    ['plain words before --', ['pos1', '--', 'after'], ['pos1', 'after']],
  ])('%s', async (_name, args, scriptArgs) => {
    expect((await options(...args)).scriptArgs).toEqual(scriptArgs);
  });

  it('known options after -- do not change the options', async () => {
    const o = await options('--', '--container=other');
    expect(o.container).toBe('img:1');
  });
});

describe('parseRunArgs: usage errors', () => {
  it.each<[string, string[], RegExp]>([
    ['missing --container', ['--script=job.sh'], /missing --container/],
    ['empty --container', ['--container=', '--script=job.sh'], /missing --container/],
    ['missing --script', ['--container=img'], /missing --script/],
    ['nothing at all', [], /missing --container/],
    ['--sshdport not a number', [...REQUIRED, '--sshdport=abc'], /--sshdport.*"abc"/],
    ['--sshdport 0', [...REQUIRED, '--sshdport=0'], /--sshdport/],
    ['--sshdport too big', [...REQUIRED, '--sshdport=65536'], /--sshdport/],
    ['--sshdport negative', [...REQUIRED, '--sshdport=-1'], /--sshdport/],
    ['--sshdport fractional', [...REQUIRED, '--sshdport=22.5'], /--sshdport/],
    ['--timeout not a number', [...REQUIRED, '--timeout=5m'], /--timeout/],
    ['--timeout zero', [...REQUIRED, '--timeout=0'], /--timeout/],
    ['--slots_per_node zero', [...REQUIRED, '--slots_per_node=0'], /--slots_per_node/],
    ['--slots_per_node words', [...REQUIRED, '--slots_per_node=eight'], /--slots_per_node/],
    ['--pull unknown', [...REQUIRED, '--pull=sometimes'], /--pull.*missing, never or always/],
  ])('%s', async (_name, argv, message) => {
    const error = await usageError(argv);
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('\n');
  });
});

describe('parseRunArgs: help and version', () => {
  it.each<[string[]]>([[['--help']], [['-h']], [['--container=img', '--help']]])('%j shows the help', async (argv) => {
    const parsed: ParsedCommand = await parseRunArgs(argv);
    expect(parsed.kind).toBe('help');
  });

  it('the help names the injected variables and has an sbatch example', async () => {
    const parsed = await parseRunArgs(['--help']);
    if (parsed.kind !== 'help') throw new Error('expected help');
    for (const word of ['hostlist', 'np', 'HOSTFILE', 'MASTER_ADDR', 'sbatch', '--container', '--script']) {
      expect(parsed.text).toContain(word);
    }
  });

  it('--version', async () => {
    expect(await parseRunArgs(['--version'])).toEqual({ kind: 'version' });
  });

  it('help needs no required options and wins over --version', async () => {
    expect((await parseRunArgs(['--version', '--help'])).kind).toBe('help');
  });
});
