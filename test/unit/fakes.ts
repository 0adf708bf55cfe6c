import type { Identity } from '../../src/container/identity.js';
import { DEFAULT_TIMEOUT_SECONDS, type RunOptions } from '../../src/cli/options.js';
/** Small in-memory fakes shared by the unit tests: file system, Docker client, logger, clock. */
import type Docker from 'dockerode';
import type { AttachedContainer, ContainerFacts, ContainerFile, DockerClient, ExecSession, HeldInput, ImageFacts } from '../../src/docker/client.js';
import { ROOT_DOCKER, type EngineFacts } from '../../src/docker/engine.js';
import type { FileSystem } from '../../src/platform/fs.js';
import type { Logger } from '../../src/platform/log.js';
import type { WallClock } from '../../src/platform/timings.js';

/** Files by path (content + mtime); a directory exists when it was made or anything lies below it. */
export class MemoryFs implements FileSystem {
  readonly files = new Map<string, { data: string; mtime: number }>();
  readonly dirs = new Map<string, number>();
  /** Owners by path (uid); a path not in it has none known. */
  readonly owners = new Map<string, number>();
  /** Every call made on it, `op path`, in order (what a node would ask of a shared home). */
  readonly ops: string[] = [];

  constructor(private readonly clock: () => number = () => 0) {}

  put(path: string, data: string, mtime = this.clock()): void {
    this.files.set(path, { data, mtime });
  }

  mkdir(path: string): Promise<void> {
    this.ops.push(`mkdir ${path}`);
    this.dirs.set(path, this.clock());
    return Promise.resolve();
  }
  writeFile(path: string, data: string): Promise<void> {
    this.ops.push(`write ${path}`);
    this.put(path, data);
    return Promise.resolve();
  }
  readFile(path: string): Promise<string | undefined> {
    this.ops.push(`read ${path}`);
    return Promise.resolve(this.files.get(path)?.data);
  }
  exists(path: string): Promise<boolean> {
    this.ops.push(`exists ${path}`);
    return Promise.resolve(this.files.has(path) || this.dirs.has(path) || this.below(path).length > 0);
  }
  remove(path: string): Promise<void> {
    this.ops.push(`remove ${path}`);
    for (const p of [path, ...this.below(path)]) {
      this.files.delete(p);
      this.dirs.delete(p);
    }
    return Promise.resolve();
  }
  modifiedAt(path: string): Promise<number | undefined> {
    this.ops.push(`stat ${path}`);
    return Promise.resolve(this.files.get(path)?.mtime ?? this.dirs.get(path));
  }
  owner(path: string): Promise<number | undefined> {
    this.ops.push(`owner ${path}`);
    return Promise.resolve(this.owners.get(path));
  }
  list(dir: string): Promise<string[]> {
    this.ops.push(`list ${dir}`);
    const names = this.below(dir).map((p) => p.slice(dir.length + 1).split('/')[0] ?? '');
    return Promise.resolve([...new Set(names)]);
  }

  private below(dir: string): string[] {
    return [...this.files.keys(), ...this.dirs.keys()].filter((p) => p.startsWith(`${dir}/`));
  }
}

export interface LogLines {
  info: string[];
  warn: string[];
  error: string[];
  verbose: string[];
}

export function fakeLogger(): Logger & { lines: LogLines } {
  const lines: LogLines = { info: [], warn: [], error: [], verbose: [] };
  const log = {
    lines,
    info: (m: string) => void lines.info.push(m),
    warn: (m: string) => void lines.warn.push(m),
    error: (m: string) => void lines.error.push(m),
    verbose: (m: string) => void lines.verbose.push(m),
    withPrefix: () => log,
  };
  return log;
}

/** A Docker client with scripted answers; every call that changes state is recorded. */
export class FakeDocker implements DockerClient {
  images = new Map<string, ImageFacts>();
  containers: ContainerFacts[] = [];
  created: Docker.ContainerCreateOptions[] = [];
  removed: string[] = [];
  pulled: string[] = [];
  listFilters: (readonly string[])[] = [];
  /** Called for each start; throw to make the start fail. */
  onStart: (id: string, attempt: number) => void = () => undefined;
  /** What a pull leaves behind. */
  pullResult: ImageFacts | undefined = { id: 'sha256:pulled', env: [] };
  private starts = 0;

  engineFacts: EngineFacts = ROOT_DOCKER;
  ping(): Promise<void> {
    return Promise.resolve();
  }
  engine(): Promise<EngineFacts> {
    return Promise.resolve(this.engineFacts);
  }
  inspectImage(image: string): Promise<ImageFacts | undefined> {
    return Promise.resolve(this.images.get(image));
  }
  pullImage(image: string): Promise<void> {
    this.pulled.push(image);
    if (this.pullResult) this.images.set(image, this.pullResult);
    return Promise.resolve();
  }
  /** What readImageFiles returns, and how often it was asked (each ask is a throwaway container). */
  imageFiles = new Map<string, string>();
  imageFileReads = 0;
  readImageFiles(): Promise<Map<string, string>> {
    this.imageFileReads += 1;
    return Promise.resolve(new Map(this.imageFiles));
  }
  /** The paths imagePathsPresent finds in every image. */
  imagePaths = new Set<string>(['/usr/sbin/sshd', '/usr/bin/ssh', '/bin', '/usr/bin']);
  imagePathReads = 0;
  imagePathsPresent(_image: string, paths: readonly string[]): Promise<Set<string>> {
    this.imagePathReads += 1;
    return Promise.resolve(new Set(paths.filter((p) => this.imagePaths.has(p))));
  }
  createContainer(options: Docker.ContainerCreateOptions): Promise<string> {
    this.created.push(options);
    return Promise.resolve(`id-${this.created.length}`);
  }
  /** What putFiles wrote, by container id and directory. */
  putFileCalls: { id: string; dir: string; files: readonly ContainerFile[] }[] = [];
  putFiles(id: string, dir: string, files: readonly ContainerFile[]): Promise<void> {
    this.putFileCalls.push({ id, dir, files });
    return Promise.resolve();
  }
  startContainer(id: string): Promise<void> {
    this.starts += 1;
    try {
      this.onStart(id, this.starts);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }
  removeContainer(idOrName: string): Promise<void> {
    this.removed.push(idOrName);
    this.containers = this.containers.filter((c) => c.id !== idOrName && c.name !== idOrName);
    return Promise.resolve();
  }
  inspectContainer(idOrName: string): Promise<ContainerFacts | undefined> {
    return Promise.resolve(this.containers.find((c) => c.id === idOrName || c.name === idOrName));
  }
  listContainers(labelFilters: readonly string[]): Promise<ContainerFacts[]> {
    this.listFilters.push(labelFilters);
    const wanted = labelFilters.map((f) => f.split('='));
    return Promise.resolve(this.containers.filter((c) => wanted.every(([k = '', v]) => c.labels[k] === v)));
  }
  /** Containers attached to, in order, with the number of starts before each attach. */
  attached: { id: string; startsBefore: number }[] = [];
  attach(id: string): Promise<AttachedContainer> {
    this.attached.push({ id, startsBefore: this.starts });
    return Promise.resolve({ resize: async () => undefined, startInput: () => undefined, stopInput: () => undefined, exited: new Promise<number>(() => undefined), outputEnded: new Promise<void>(() => undefined), jobEnded: new Promise<number | undefined>(() => undefined), removed: Promise.resolve() });
  }
  exec(): Promise<ExecSession> {
    return Promise.reject(new Error('exec is not faked'));
  }
  held: string[] = [];
  holdInput(id: string): Promise<HeldInput> {
    this.held.push(id);
    return Promise.resolve({ release: () => undefined, exited: new Promise<number>(() => undefined), removed: Promise.resolve() });
  }
}

/** A wall clock whose sleeps take no time: each moves the clock on by its length (deadlines come at once). */
export function fakeWallClock(start = 1_000_000): WallClock & { slept: number[] } {
  let t = start;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: (ms) => {
      slept.push(ms);
      t += ms;
      return Promise.resolve();
    },
  };
}

/** A clock that moves only when told (or by `step` ms each time it is read). */
export function fakeClock(start = 1_000_000, step = 0): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return {
    now: () => {
      const value = t;
      t += step;
      return value;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

/** The caller most unit tests use: alice, uid/gid 1000, no supplementary groups. */
export function aliceIdentity(overrides: Partial<Identity> = {}): Identity {
  return {
    user: 'alice',
    uid: 1000,
    gid: 1000,
    home: '/home/alice',
    shell: '/bin/bash',
    groups: [],
    passwdLine: 'alice:x:1000:1000::/home/alice:/bin/bash',
    groupLines: ['alice:x:1000:'],
    ...overrides,
  };
}

/** Run options as the CLI gives them with only --container and --script set. */
export function runOptions(overrides: Partial<RunOptions> = {}): RunOptions {
  return {
    container: 'img:1',
    script: 'job.sh',
    scriptArgs: [],
    scriptHelp: false,
    datamnts: [],
    envlist: [],
    ssh: 'auto',
    privileged: false,
    ibdevices: false,
    dockopts: '',
    timeoutSeconds: DEFAULT_TIMEOUT_SECONDS,
    pull: 'missing',
    timings: false,
    dryRun: false,
    json: false,
    logLevel: 'normal',
    ...overrides,
  };
}
