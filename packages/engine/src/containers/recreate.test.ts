import { describe, expect, it } from 'vitest';
import { recreateBody } from './recreate';
import type { ContainerInspect } from './store';

const id = 'a'.repeat(64);

function inspect(overrides: { Config?: object; HostConfig?: object; Mounts?: object[]; Networks?: object }) {
  return {
    Id: id,
    Name: '/web',
    Image: `sha256:${'1'.repeat(64)}`,
    LogPath: '',
    RestartCount: 0,
    State: {},
    Mounts: overrides.Mounts ?? [],
    Config: {
      Hostname: id.slice(0, 12),
      Domainname: '',
      User: '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'IMAGE_SET=1', 'MINE=2'],
      Cmd: ['sh'],
      Image: 'registry.test/app:1',
      Volumes: null,
      WorkingDir: '',
      Entrypoint: null,
      Labels: { 'from.image': 'x', mine: 'y' },
      ...overrides.Config,
    },
    HostConfig: { NetworkMode: 'bridge', ...overrides.HostConfig },
    NetworkSettings: { Networks: overrides.Networks ?? { bridge: { Aliases: null } } },
  } as unknown as ContainerInspect;
}

const imageConfig = {
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'IMAGE_SET=1'],
  Cmd: ['sh'],
  Labels: { 'from.image': 'x' },
};

describe('recreateBody', () => {
  it('keeps what was set on the container and leaves the image’s defaults to the new image', () => {
    const { body } = recreateBody(inspect({}), imageConfig);
    expect(body.Env).toEqual(['MINE=2']);
    expect(body.Labels).toEqual({ mine: 'y' });
    expect(body).not.toHaveProperty('Cmd');
    expect(body).not.toHaveProperty('Entrypoint');
    expect(body).not.toHaveProperty('Hostname');
    expect(body.Image).toBe('registry.test/app:1');
  });

  it("keeps a healthcheck given to the container, and leaves the image's own to the new image", () => {
    const check = { Test: ['CMD-SHELL', 'curl -f localhost'], Interval: 5e9 };
    const given = recreateBody(inspect({ Config: { Healthcheck: check } }), imageConfig);
    expect(given.body.Healthcheck).toEqual(check);
    const inherited = recreateBody(inspect({ Config: { Healthcheck: check } }), {
      ...imageConfig,
      Healthcheck: check,
    });
    expect(inherited.body).not.toHaveProperty('Healthcheck');
    expect(recreateBody(inspect({}), imageConfig).body).not.toHaveProperty('Healthcheck');
  });

  it('keeps everything when the old image is gone, and a cleared entrypoint stays cleared', () => {
    const { body } = recreateBody(inspect({ Config: { Cmd: ['echo', 'hi'] } }), undefined);
    expect(body.Env).toHaveLength(3);
    expect(body.Cmd).toEqual(['echo', 'hi']);
    expect(body.Entrypoint).toEqual(['']);
    const own = recreateBody(inspect({ Config: { Cmd: ['run'] } }), {
      ...imageConfig,
      Entrypoint: ['/init'],
    });
    // The image had an entrypoint the container does not: it was cleared at create.
    expect(own.body.Entrypoint).toEqual(['']);
    expect(own.body.Cmd).toEqual(['run']);
  });

  it('reattaches anonymous volumes by name, keeps binds and named mounts, and drops the engine’s own aliases', () => {
    const { body, extraNetworks } = recreateBody(
      inspect({
        HostConfig: {
          NetworkMode: 'front',
          Binds: ['data:/data', '/srv/conf:/conf:ro'],
          Mounts: [
            { Type: 'volume', Source: '', Target: '/scratch' },
            { Type: 'volume', Source: 'named', Target: '/named' },
          ],
        },
        Mounts: [
          { Type: 'volume', Name: 'data', Source: '/v/data', Destination: '/data', RW: true },
          { Type: 'bind', Source: '/srv/conf', Destination: '/conf', RW: false },
          { Type: 'volume', Name: 'anon1', Source: '/v/anon1', Destination: '/scratch', RW: true },
          { Type: 'volume', Name: 'named', Source: '/v/named', Destination: '/named', RW: true },
          { Type: 'volume', Name: 'anon2', Source: '/v/anon2', Destination: '/cache', RW: false },
        ],
        Networks: {
          front: { Aliases: ['web-alias', id.slice(0, 12)], IPAMConfig: { IPv4Address: '10.9.0.5' } },
          back: { Aliases: [id.slice(0, 12), 'db-client'] },
        },
      }),
      imageConfig,
    );
    expect(body.HostConfig?.Binds).toEqual(['data:/data', '/srv/conf:/conf:ro']);
    expect(body.HostConfig?.Mounts).toEqual([
      { Type: 'volume', Source: 'named', Target: '/named' },
      { Type: 'volume', Source: 'anon1', Target: '/scratch', ReadOnly: false },
      { Type: 'volume', Source: 'anon2', Target: '/cache', ReadOnly: true },
    ]);
    expect(body.NetworkingConfig?.EndpointsConfig).toEqual({
      front: { Aliases: ['web-alias'], IPAMConfig: { IPv4Address: '10.9.0.5' } },
    });
    expect(extraNetworks).toEqual([{ name: 'back', aliases: ['db-client'] }]);
  });
});
