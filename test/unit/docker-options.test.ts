import { describe, expect, it } from 'vitest';
import { dockerOptionsFromEnv } from '../../src/docker/dockerode-client.js';

describe('dockerOptionsFromEnv: where DOCKER_HOST points dockerode', () => {
  it('unset or empty: the default unix socket', () => {
    expect(dockerOptionsFromEnv({})).toMatchObject({ socketPath: '/var/run/docker.sock' });
    expect(dockerOptionsFromEnv({ DOCKER_HOST: '' })).toMatchObject({ socketPath: '/var/run/docker.sock' });
  });

  it('unix://PATH: that socket (rootless engines, Podman)', () => {
    expect(dockerOptionsFromEnv({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' })).toMatchObject({ socketPath: '/run/user/1000/docker.sock' });
  });

  it('over a socket the Host header is an IP literal, so Node never matches a name against its IPv6 pattern', () => {
    expect(dockerOptionsFromEnv({}).headers).toEqual({ Host: '127.0.0.1' });
    expect(dockerOptionsFromEnv({ DOCKER_HOST: 'unix:///tmp/d.sock' }).headers).toEqual({ Host: '127.0.0.1' });
  });

  it('tcp://HOST:PORT: plain HTTP to that host, whose own name stays in the Host header', () => {
    const options = dockerOptionsFromEnv({ DOCKER_HOST: 'tcp://docker.example:2376' });
    expect(options).toEqual({ host: 'docker.example', port: 2376, protocol: 'http' });
  });

  it('tcp://HOST without a port: the plain-HTTP port 2375', () => {
    expect(dockerOptionsFromEnv({ DOCKER_HOST: 'tcp://10.0.0.5' })).toEqual({ host: '10.0.0.5', port: 2375, protocol: 'http' });
  });
});
