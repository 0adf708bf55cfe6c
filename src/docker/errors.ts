import { LaunchError } from '../platform/errors.js';

export class DockerUnavailableError extends LaunchError {
  override readonly name = 'DockerUnavailableError';
  constructor(where: string, cause: unknown) {
    super(
      `Docker daemon not answering at ${where} (${cause instanceof Error ? cause.message : String(cause)}) — ` +
        (isTlsFailure(cause)
          ? "the TLS handshake failed: check that DOCKER_CERT_PATH's ca.pem signed the daemon's certificate and that the daemon accepts cert.pem"
          : 'start it (systemctl start docker) or point DOCKER_HOST at a running daemon'),
      { cause },
    );
  }
}

/** Node's TLS errors: a certificate that does not verify, or a handshake the daemon refused. */
function isTlsFailure(cause: unknown): boolean {
  const code = typeof cause === 'object' && cause !== null ? String((cause as { code?: unknown }).code ?? '') : '';
  const message = cause instanceof Error ? cause.message : '';
  return /^ERR_TLS|^ERR_SSL|CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)/.test(code) || /certificate|handshake|alert/i.test(message);
}

export class ImageNotFoundError extends LaunchError {
  override readonly name = 'ImageNotFoundError';
  constructor(image: string, reason: string, options?: ErrorOptions) {
    super(`image ${image} is not on this node and could not be pulled (${reason}) — check the name, or load it with docker load`, options);
  }
}
