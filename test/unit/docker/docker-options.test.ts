import { describe, expect, it } from 'vitest';
import { dockerConnection } from '../../../src/docker/connection.js';
import { UsageError } from '../../../src/platform/errors.js';

const noFiles = (path: string): Buffer => {
  throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
};
/** A certificate directory holding the three PEM files, by content. */
const certs =
  (dir: string, names = ['ca.pem', 'cert.pem', 'key.pem']) =>
  (path: string): Buffer => {
    const name = path.slice(dir.length + 1);
    if (path.startsWith(`${dir}/`) && names.includes(name)) return Buffer.from(`PEM of ${name}`);
    return noFiles(path);
  };
const options = (env: Record<string, string>, read = noFiles) => dockerConnection(env, read).options;

describe('dockerConnection: where DOCKER_HOST points dockerode, as the docker CLI reads it', () => {
  it('unset or empty: the default unix socket', () => {
    expect(options({})).toMatchObject({ socketPath: '/var/run/docker.sock' });
    expect(options({ DOCKER_HOST: '' })).toMatchObject({ socketPath: '/var/run/docker.sock' });
  });

  it('unix://PATH: that socket (rootless engines, Podman)', () => {
    expect(options({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' })).toMatchObject({ socketPath: '/run/user/1000/docker.sock' });
  });

  it('over a socket the Host header is an IP literal, so Node never matches a name against its IPv6 pattern', () => {
    expect(options({}).headers).toEqual({ Host: '127.0.0.1' });
    expect(options({ DOCKER_HOST: 'unix:///tmp/d.sock' }).headers).toEqual({ Host: '127.0.0.1' });
  });

  it('tcp:// without TLS settings: plain HTTP, never silently (one warning naming the fix)', () => {
    const connection = dockerConnection({ DOCKER_HOST: 'tcp://docker.example:2376' }, noFiles);
    expect(connection.options).toEqual({ host: 'docker.example', port: 2376, protocol: 'http' });
    expect(connection.warning).toMatch(/^DOCKER_HOST=tcp:\/\/docker.example:2376 is plain HTTP, without TLS: .* set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH/);
    expect(options({ DOCKER_HOST: 'tcp://10.0.0.5' })).toEqual({ host: '10.0.0.5', port: 2375, protocol: 'http' });
  });

  it('DOCKER_TLS_VERIFY: HTTPS with ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH, port 2376 by default', () => {
    const connection = dockerConnection({ DOCKER_HOST: 'tcp://10.0.0.5', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs' }, certs('/certs'));
    expect(connection.options).toEqual({
      host: '10.0.0.5',
      port: 2376,
      protocol: 'https',
      ca: Buffer.from('PEM of ca.pem'),
      cert: Buffer.from('PEM of cert.pem'),
      key: Buffer.from('PEM of key.pem'),
    });
    expect(connection.warning).toBeUndefined();
    expect(connection.where).toBe('tcp://10.0.0.5 (TLS)');
  });

  it('DOCKER_CERT_PATH defaults to ~/.docker, as for the docker CLI', () => {
    const connection = dockerConnection({ DOCKER_HOST: 'tcp://h:1234', DOCKER_TLS_VERIFY: '1', HOME: '/home/alice' }, certs('/home/alice/.docker'));
    expect(connection.options).toMatchObject({ host: 'h', port: 1234, protocol: 'https' });
  });

  it('DOCKER_TLS alone: TLS without checking the daemon\'s certificate, said once', () => {
    const connection = dockerConnection({ DOCKER_HOST: 'tcp://h', DOCKER_TLS: '1', DOCKER_CERT_PATH: '/none' }, noFiles);
    expect(connection.options).toMatchObject({ host: 'h', port: 2376, protocol: 'https' });
    expect(connection.options.agent).toBeDefined();
    expect(connection.warning).toMatch(/certificate is not checked/);
  });

  it.each<[string, Record<string, string>, (p: string) => Buffer, RegExp]>([
    ['no ca.pem', { DOCKER_HOST: 'tcp://h', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/c' }, certs('/c', ['cert.pem', 'key.pem']), /^DOCKER_TLS_VERIFY is set but \/c\/ca.pem cannot be read \(ENOENT\) — point DOCKER_CERT_PATH/],
    ['no key.pem', { DOCKER_HOST: 'tcp://h', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/c' }, certs('/c', ['ca.pem', 'cert.pem']), /\/c\/key.pem cannot be read/],
    ['an unknown scheme', { DOCKER_HOST: 'ssh://me@h' }, noFiles, /^DOCKER_HOST="ssh:\/\/me@h" is not unix:\/\/PATH or tcp:\/\/HOST\[:PORT\]/],
  ])('refuses: %s', (_name, env, read, message) => {
    expect(() => dockerConnection(env, read)).toThrow(UsageError);
    expect(() => dockerConnection(env, read)).toThrow(message);
  });
});
