import type Docker from 'dockerode';
import type { EngineFacts } from './engine.js';

/** The few Docker operations srun-docker needs; one dockerode implementation, fakes in unit tests. */
export interface DockerClient {
  /** Resolves when the daemon answers; rejects with DockerUnavailableError otherwise. */
  ping(): Promise<void>;
  /** Docker or Podman, root or rootless (GET /info and /version); a root Docker daemon's facts when they cannot be read. */
  engine(): Promise<EngineFacts>;
  /** Image config (env, user) or undefined when the image is not present locally. */
  inspectImage(image: string): Promise<ImageFacts | undefined>;
  pullImage(image: string, onProgress: (event: PullEvent) => void): Promise<void>;
  /** Reads small files out of an image by creating (never starting) a throwaway container. */
  readImageFiles(image: string, paths: readonly string[], labels: Record<string, string>): Promise<Map<string, string>>;
  /** Which of these paths the image has (a symlink counts), again from a container created and never started. */
  imagePathsPresent(image: string, paths: readonly string[], labels: Record<string, string>): Promise<Set<string>>;
  createContainer(options: Docker.ContainerCreateOptions): Promise<string>;
  /**
   * Writes files into a created container's own file system (owned by its root), before it starts:
   * the daemon needs nothing on the host for them, where a bind mount's source must be reachable by
   * it (a home on NFS with root_squash is not, for a root daemon).
   */
  putFiles(id: string, dir: string, files: readonly ContainerFile[]): Promise<void>;
  startContainer(id: string): Promise<void>;
  /** Force-removes; a container that is already gone is not an error. */
  removeContainer(idOrName: string): Promise<void>;
  inspectContainer(idOrName: string): Promise<ContainerFacts | undefined>;
  listContainers(labelFilters: readonly string[]): Promise<ContainerFacts[]>;
  /**
   * Attaches to a created container that has not started yet — `io.stdin` into its input (its end
   * passed on as the input's end), its output into `io` — and waits for its end: set up before the
   * start, so no input, output or exit is missed. With `options.jobEndNonce`, the job-end lines
   * (job-end.ts) are taken out of the output and reported; `options.tty`: the container has a
   * terminal (one output stream, no multiplexing).
   */
  attach(id: string, io: ContainerIo, options?: AttachOptions): Promise<AttachedContainer>;
  /** Runs a command in a running container (`srun-docker shell`), on a terminal with `request.tty`; resolves with its session. */
  exec(id: string, request: ExecRequest, io: ContainerIo): Promise<ExecSession>;
  /**
   * Holds a created, not yet started container's input open (a worker's container ends when it
   * closes): closed by `release`, and by the daemon as soon as this process is gone, SIGKILL included.
   */
  holdInput(id: string): Promise<HeldInput>;
}

/** A file, or a directory (made when missing), by its name in the directory given to putFiles; owned by the container's root. */
export type ContainerFile = { name: string; mode: number; content: string | Buffer } | { name: string; mode: number; directory: true };

/** Files for one directory of a container. */
export interface ContainerFiles {
  dir: string;
  files: readonly ContainerFile[];
}

export interface HeldInput {
  /** Closes the container's input: its main process ends sshd and exits. */
  release(): void;
  /** Once the container has exited (its code; undefined when it was gone before). Never rejects. */
  exited: Promise<number | undefined>;
  /** Once Docker has removed it. Never rejects. */
  removed: Promise<void>;
}

export interface AttachOptions {
  jobEndNonce?: string;
  tty?: boolean;
}

export interface ExecRequest {
  command: string[];
  tty: boolean;
}

export interface ExecSession {
  /** Sets its terminal's size. */
  resize(rows: number, columns: number): Promise<void>;
  /** Its exit code, once its output has ended. */
  exited: Promise<number>;
}

export interface AttachedContainer {
  /** Sets the container's terminal's size (tty containers only; fails before the start). */
  resize(rows: number, columns: number): Promise<void>;
  /** Starts passing srun-docker's input on: once the container has started (a start that failed must not take any of it). */
  startInput(): void;
  /** Stops passing srun-docker's input on (the job is over): nothing is left reading it, and the process can end. */
  stopInput(): void;
  /**
   * The container's exit code once its process has ended and its output is all written; undefined
   * when it was gone before its end could be seen. Never rejects.
   */
  exited: Promise<number | undefined>;
  /** Once the container's output has ended (its processes are gone): before the daemon reports the exit. Never rejects. */
  outputEnded: Promise<void>;
  /**
   * Once the job-end line has come through on both stdout and stderr (all the job's output is
   * forwarded): the exit code it carries; undefined when the output ended without it. Never rejects.
   */
  jobEnded: Promise<number | undefined>;
  /** Once Docker has removed it (AutoRemove, or a forced removal). Never rejects. */
  removed: Promise<void>;
}

export interface ImageFacts {
  id: string;
  env: string[];
  /** The image's ENTRYPOINT: never run (srun-docker's own sh is a container's main process), only named by --dry-run. */
  entrypoint?: string[];
}

export interface ContainerFacts {
  id: string;
  name: string;
  running: boolean;
  exitCode: number;
  labels: Record<string, string>;
  createdSeconds: number;
  /** Its main process, as the daemon's host sees it (inspect only; 0 when it is not running). */
  pid?: number;
}

export interface ContainerOutput {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface ContainerIo extends ContainerOutput {
  /** What the container's input gets, from its first byte; none: its input is at its end at once. */
  stdin?: NodeJS.ReadableStream;
}

/** One progress message of a pull, as the daemon sends it. */
export interface PullEvent {
  id?: string;
  status?: string;
  progress?: string;
  error?: string;
}
