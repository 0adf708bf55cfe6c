import { LaunchError } from '../errors.js';

export class DockerUnavailableError extends LaunchError {
  override readonly name = 'DockerUnavailableError';
  constructor(where: string, cause: unknown) {
    super(
      `Docker daemon not answering at ${where} (${cause instanceof Error ? cause.message : String(cause)}) — ` +
        'start it (systemctl start docker) or point DOCKER_HOST at a running daemon',
      { cause },
    );
  }
}

export class ImageNotFoundError extends LaunchError {
  override readonly name = 'ImageNotFoundError';
  constructor(image: string, reason: string, options?: ErrorOptions) {
    super(`image ${image} is not on this node and could not be pulled (${reason}) — check the name, or load it with docker load`, options);
  }
}
