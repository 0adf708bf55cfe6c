import Docker from 'dockerode';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { extract, pack } from 'tar-stream';
import { JobEndStripper, jobEndMarker } from './job-end.js';
import { dockerConnection } from './connection.js';
import { DockerUnavailableError, ImageNotFoundError } from './errors.js';
import { engineFacts, ROOT_DOCKER, type EngineFacts, type EngineInfo } from './engine.js';
import type { AttachedContainer, AttachOptions, ContainerFacts, ContainerFile, ContainerIo, DockerClient, ExecRequest, ExecSession, HeldInput, ImageFacts, PullEvent } from './client.js';
import { LaunchError } from '../platform/errors.js';

/** The real DockerClient over dockerode; DOCKER_HOST / the default socket decide the daemon (connection.ts). */
export function createDockerodeClient(env: Record<string, string | undefined>, warn: (message: string) => void = () => undefined): DockerClient {
  const connection = dockerConnection(env, readFileSync);
  if (connection.warning !== undefined) warn(connection.warning);
  const docker = new Docker(connection.options);
  const where = connection.where;
  return {
    ping: () => ping(docker, where),
    engine: () => engine(docker),
    inspectImage: (image) => inspectImage(docker, image),
    pullImage: (image, onProgress) => pullImage(docker, image, onProgress),
    readImageFiles: (image, paths, labels) => readImageFiles(docker, image, paths, labels),
    imagePathsPresent: (image, paths, labels) => imagePathsPresent(docker, image, paths, labels),
    createContainer: async (options) => (await docker.createContainer(options)).id,
    putFiles: (id, dir, files) => putFiles(docker, id, dir, files),
    startContainer: async (id) => {
      await docker.getContainer(id).start();
    },
    removeContainer: (idOrName) => removeContainer(docker, idOrName),
    inspectContainer: (idOrName) => inspectContainer(docker, idOrName),
    listContainers: (labels) => listContainers(docker, labels),
    attach: (id, io, options = {}) => attach(docker, id, io, options),
    holdInput: (id) => holdInput(docker, id),
    exec: (id, request, io) => exec(docker, id, request, io),
  };
}

async function ping(docker: Docker, where: string): Promise<void> {
  try {
    await withTimeout(docker.ping(), 10_000, 'no answer within 10 s');
  } catch (error) {
    throw new DockerUnavailableError(where, error);
  }
}

/** The ping's error is the one to report: a daemon that does not answer here is assumed root Docker. */
async function engine(docker: Docker): Promise<EngineFacts> {
  try {
    return engineFacts(await withTimeout(docker.info() as Promise<EngineInfo>, 10_000, 'no answer'));
  } catch {
    return ROOT_DOCKER;
  }
}

async function inspectImage(docker: Docker, image: string): Promise<ImageFacts | undefined> {
  try {
    const info = await docker.getImage(image).inspect();
    return { id: info.Id, env: info.Config?.Env ?? [], entrypoint: entrypointOf(info.Config?.Entrypoint) };
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

/** The API gives ENTRYPOINT as null, a list, or (images of old builders) a string. */
function entrypointOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((part): part is string => typeof part === 'string');
  return typeof value === 'string' && value !== '' ? [value] : [];
}

async function pullImage(docker: Docker, image: string, onProgress: (event: PullEvent) => void): Promise<void> {
  let stream: NodeJS.ReadableStream;
  try {
    stream = (await docker.pull(image)) as NodeJS.ReadableStream;
  } catch (error) {
    throw new ImageNotFoundError(image, messageOf(error), { cause: error });
  }
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null, events: PullEvent[]) => {
        const failed = error ?? events.find((e) => e.error !== undefined)?.error;
        if (failed) reject(new ImageNotFoundError(image, messageOf(failed)));
        else resolve();
      },
      onProgress,
    );
  });
}

async function readImageFiles(
  docker: Docker,
  image: string,
  paths: readonly string[],
  labels: Record<string, string>,
): Promise<Map<string, string>> {
  // Created, never started: the daemon serves archives of a container's root file system without running it.
  const probe = await docker.createContainer({ Image: image, Labels: labels, Entrypoint: ['/bin/true'], Cmd: [] });
  try {
    const files = new Map<string, string>();
    for (const path of paths) {
      const content = await readOneFile(probe, path);
      if (content !== undefined) files.set(path, content);
    }
    return files;
  } finally {
    await probe.remove({ force: true }).catch(() => undefined);
  }
}

async function imagePathsPresent(docker: Docker, image: string, paths: readonly string[], labels: Record<string, string>): Promise<Set<string>> {
  const probe = await docker.createContainer({ Image: image, Labels: labels, Entrypoint: ['/bin/true'], Cmd: [] });
  try {
    const found = await Promise.all(
      paths.map(async (path) => {
        try {
          // HEAD of the archive: the path's stat in a header, no content; the response is a stream
          // all the same, and one left unread holds its socket open (the process never ended)
          const response = (await probe.infoArchive({ path })) as NodeJS.ReadableStream;
          response.resume();
          return path;
        } catch (error) {
          if (statusOf(error) === 404) return undefined;
          throw error;
        }
      }),
    );
    return new Set(found.filter((path) => path !== undefined));
  } finally {
    await probe.remove({ force: true }).catch(() => undefined);
  }
}

async function putFiles(docker: Docker, id: string, dir: string, files: readonly ContainerFile[]): Promise<void> {
  const tar = pack();
  for (const file of files) {
    if ('directory' in file) tar.entry({ name: file.name, mode: file.mode, uid: 0, gid: 0, type: 'directory' });
    else tar.entry({ name: file.name, mode: file.mode, uid: 0, gid: 0 }, file.content);
  }
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(Buffer.from(chunk as Uint8Array));
  await docker.getContainer(id).putArchive(Buffer.concat(chunks), { path: dir });
}

async function readOneFile(container: Docker.Container, path: string): Promise<string | undefined> {
  let archive: NodeJS.ReadableStream;
  try {
    archive = await container.getArchive({ path });
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const tar = extract();
    tar.on('entry', (_header, body, next) => {
      body.on('data', (chunk: unknown) => chunks.push(Buffer.from(chunk as Uint8Array)));
      body.on('end', next);
      body.resume();
    });
    tar.on('finish', () => resolve(Buffer.concat(chunks).toString('utf8')));
    tar.on('error', reject);
    archive.pipe(tar);
  });
}

async function removeContainer(docker: Docker, idOrName: string): Promise<void> {
  try {
    await docker.getContainer(idOrName).remove({ force: true, v: true });
  } catch (error) {
    // gone already, or a removal already under way (two teardown paths racing): both mean "it will be gone"
    const status = statusOf(error);
    if (status === 404 || status === 409) return;
    throw error;
  }
}

async function inspectContainer(docker: Docker, idOrName: string): Promise<ContainerFacts | undefined> {
  try {
    const info = await docker.getContainer(idOrName).inspect();
    return {
      id: info.Id,
      name: info.Name.replace(/^\//, ''),
      running: info.State.Running,
      exitCode: info.State.ExitCode,
      labels: info.Config.Labels ?? {},
      createdSeconds: Math.floor(Date.parse(info.Created) / 1000),
      pid: info.State.Pid,
    };
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

async function listContainers(docker: Docker, labels: readonly string[]): Promise<ContainerFacts[]> {
  const found = await docker.listContainers({ all: true, filters: { label: [...labels] } });
  return found.map((c) => ({
    id: c.Id,
    name: (c.Names[0] ?? c.Id).replace(/^\//, ''),
    running: c.State === 'running',
    exitCode: 0,
    labels: c.Labels,
    createdSeconds: c.Created,
  }));
}

/** How long an attach may stay open once its container is removed. */
const OUTPUT_AFTER_REMOVAL_MS = 2_000;

async function attach(docker: Docker, id: string, io: ContainerIo, options: AttachOptions): Promise<AttachedContainer> {
  const container = docker.getContainer(id);
  const stream = await attachStream(docker, id);
  const { exit, removed } = waitsOf(container);
  const input = passInput(io.stdin, stream);
  const tty = options.tty === true;
  const codes: (number | undefined)[] = [];
  let jobEndedOn = (_code: number | undefined): void => undefined;
  const jobEnded = new Promise<number | undefined>((resolve) => {
    jobEndedOn = resolve;
  });
  // each stream's line says that stream has all the job wrote (a terminal's one stream: one line); the
  // code is the same on both. Reported after the output before the lines has been written on (the
  // pipes hand it over on the next tick).
  const linesExpected = tty ? 1 : 2;
  const lineSeen = (code: number | undefined): void => {
    codes.push(code);
    if (codes.length === linesExpected) setImmediate(() => jobEndedOn(codes[0] ?? codes[1]));
  };
  const nonce = options.jobEndNonce;
  const passOn = (): NodeJS.ReadWriteStream => (nonce === undefined ? new PassThrough() : new JobEndStripper(jobEndMarker(nonce), lineSeen));
  const drained = new Promise<void>((resolve) => {
    const out = passOn();
    const err = passOn();
    out.pipe(io.stdout, { end: false });
    err.pipe(io.stderr, { end: false });
    // a terminal's output is one raw stream: nothing to demultiplex
    if (tty) stream.pipe(out, { end: false });
    else docker.modem.demuxStream(stream, out, err);
    let over = false;
    const ended = (): void => {
      if (over) return;
      over = true;
      // what a stripper held back as a possible line start is output after all
      out.end();
      err.end();
      resolve();
    };
    stream.on('end', ended);
    stream.on('close', ended);
    stream.on('error', ended);
  });
  // a container whose start failed is removed without ever running, and the daemon may keep its
  // attach open (seen with a mount it could not make): that would keep this process alive after the
  // job. One that ran (its input began) has closed it before it is removed; the grace lets its last output in.
  let began = false;
  void removed.then(() => setTimeout(() => (stream as Partial<NodeJS.ReadStream>).destroy?.(), began ? OUTPUT_AFTER_REMOVAL_MS : 0).unref());
  // the lines seen: their code is on its way (setImmediate above), the output's end must not win with none
  void drained.then(() => {
    input.detach();
    // the output is over: input still queued for a container that is gone would hold the socket open
    (stream as Partial<NodeJS.ReadStream>).destroy?.();
    if (codes.length < linesExpected) jobEndedOn(undefined);
  });
  return {
    resize: async (rows, columns) => {
      await container.resize({ h: rows, w: columns });
    },
    startInput: () => {
      began = true;
      input.start();
    },
    stopInput: input.stop,
    exited: Promise.all([exit, drained]).then(([code]) => code),
    outputEnded: drained,
    jobEnded,
    removed,
  };
}

async function holdInput(docker: Docker, id: string): Promise<HeldInput> {
  const container = docker.getContainer(id);
  const stream = (await container.attach({ stream: true, stdin: true, stdout: false, stderr: false, hijack: true })) as NodeJS.ReadWriteStream;
  const { exit, removed } = waitsOf(container);
  // nothing comes out (no output attached); reading keeps the socket flowing until the daemon closes it
  stream.resume();
  stream.on('error', () => undefined);
  // once the container is gone the daemon may keep the connection open: it would keep this process alive
  void exit.then(() => (stream as Partial<NodeJS.ReadStream>).destroy?.());
  return { release: () => void stream.end(), exited: exit, removed };
}

/** As `docker run` does, the waits are asked for before the start (an error: gone before they began). */
function waitsOf(container: Docker.Container): { exit: Promise<number | undefined>; removed: Promise<void> } {
  const exit = (container.wait({ condition: 'next-exit' }) as Promise<{ StatusCode?: number }>).then(
    (result) => result.StatusCode,
    () => undefined,
  );
  const removed = (container.wait({ condition: 'removed' }) as Promise<unknown>).then(
    () => undefined,
    () => undefined,
  );
  return { exit, removed };
}

/**
 * The attach request with its options in the query and an empty body (Content-Length: 0):
 * dockerode sends the options as a JSON body too, which Podman passes on to the container's input —
 * the job's input now, from its first byte.
 */
function attachStream(docker: Docker, id: string): Promise<NodeJS.ReadWriteStream> {
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      {
        path: `/containers/${id}/attach?`,
        method: 'POST',
        isStream: true,
        hijack: true,
        openStdin: true,
        file: Buffer.alloc(0),
        statusCodes: { 101: true, 200: true, 404: 'no such container', 500: 'server error' },
        options: { stream: true, stdin: true, stdout: true, stderr: true },
      },
      (error: unknown, stream: unknown) => {
        if (error) reject(error instanceof Error ? error : new LaunchError(`attach failed: ${String(error)}`));
        else resolve(stream as NodeJS.ReadWriteStream);
      },
    );
  });
}

/**
 * srun-docker's input into the container's, with back-pressure, its end passed on as a half-close
 * (the container's input then ends, its output goes on); none: the container's input ends at once.
 * Nothing is read before `start`: a container whose start failed (and is made again) must not take
 * any of it. `detach` lets go of this container only; `stop` also stops reading srun-docker's input
 * (the job is over), so that it does not keep the process alive.
 */
function passInput(input: NodeJS.ReadableStream | undefined, stream: NodeJS.ReadWriteStream): { start: () => void; detach: () => void; stop: () => void } {
  // a socket already closed by the daemon: the input is simply no longer wanted
  stream.on('error', () => undefined);
  if (input === undefined) return { start: () => void stream.end(), detach: () => undefined, stop: () => undefined };
  const ended = (): void => {
    stream.end();
  };
  let started = false;
  const detach = (): void => {
    input.off('end', ended);
    input.unpipe(stream);
  };
  return {
    start: () => {
      if (started) return;
      started = true;
      input.pipe(stream, { end: false });
      input.once('end', ended);
    },
    detach,
    stop: () => {
      detach();
      input.pause();
      // a reader of the job's input that never ends (`yes | srun ...`) must not keep this process alive
      (input as Partial<NodeJS.ReadStream>).destroy?.();
    },
  };
}

async function exec(docker: Docker, id: string, request: ExecRequest, io: ContainerIo): Promise<ExecSession> {
  const execution = await docker.getContainer(id).exec({
    Cmd: request.command,
    AttachStdin: io.stdin !== undefined,
    AttachStdout: true,
    AttachStderr: true,
    Tty: request.tty,
  });
  const stream = (await execution.start({ hijack: true, stdin: io.stdin !== undefined, Tty: request.tty })) as NodeJS.ReadWriteStream;
  const input = passInput(io.stdin, stream);
  input.start();
  const ended = new Promise<void>((resolve) => {
    if (request.tty) stream.pipe(io.stdout, { end: false });
    else docker.modem.demuxStream(stream, io.stdout, io.stderr);
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', () => resolve());
  });
  return {
    resize: async (rows, columns) => {
      await execution.resize({ h: rows, w: columns });
    },
    exited: ended.then(async () => {
      input.stop();
      return (await execution.inspect()).ExitCode ?? 1;
    }),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LaunchError(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function statusOf(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'statusCode' in error
    ? Number((error as { statusCode: unknown }).statusCode)
    : undefined;
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) return firstLine(error.message);
  if (typeof error === 'string') return firstLine(error);
  return String(error);
}

/** Daemon errors can run to many lines; a one-line error message takes the first. */
export function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}
