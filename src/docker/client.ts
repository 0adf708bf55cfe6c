import type Docker from 'dockerode';

/** The few Docker operations srun-docker needs; one dockerode implementation, fakes in unit tests. */
export interface DockerClient {
  /** Resolves when the daemon answers; rejects with DockerUnavailableError otherwise. */
  ping(): Promise<void>;
  /** Image config (env, user) or undefined when the image is not present locally. */
  inspectImage(image: string): Promise<ImageFacts | undefined>;
  pullImage(image: string, onProgress: (event: PullEvent) => void): Promise<void>;
  /** Reads small files out of an image by creating (never starting) a throwaway container. */
  readImageFiles(image: string, paths: readonly string[], labels: Record<string, string>): Promise<Map<string, string>>;
  createContainer(options: Docker.ContainerCreateOptions): Promise<string>;
  startContainer(id: string): Promise<void>;
  /** Force-removes; a container that is already gone is not an error. */
  removeContainer(idOrName: string): Promise<void>;
  inspectContainer(idOrName: string): Promise<ContainerFacts | undefined>;
  listContainers(labelFilters: readonly string[]): Promise<ContainerFacts[]>;
  /** Runs a command in a running container, streaming its output; resolves with its exit code. */
  exec(id: string, spec: ExecSpec, output: ExecOutput): Promise<number>;
}

export interface ImageFacts {
  id: string;
  env: string[];
}

export interface ContainerFacts {
  id: string;
  name: string;
  running: boolean;
  exitCode: number;
  labels: Record<string, string>;
  createdSeconds: number;
}

export interface ExecSpec {
  cmd: string[];
  env: string[];
  /**
   * Left out, the exec runs as the container's own User with its GroupAdd groups. Podman drops those
   * supplementary groups from an exec that names a user (Docker keeps them), so leave it out where the
   * container's user is the one wanted.
   */
  user?: string;
  workdir: string;
}

export interface ExecOutput {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** One progress message of a pull, as the daemon sends it. */
export interface PullEvent {
  id?: string;
  status?: string;
  progress?: string;
  error?: string;
}
