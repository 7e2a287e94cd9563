import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine';
import { EngineError } from '../errors';
import type { PullProgress } from '../images/types';
import { importImage, loadBusybox, pushImage, versionedImage } from '../testing/images';
import { testNetworkOptions } from '../testing/network';
import { freePort, type StartedRegistry, startRegistry } from '../testing/registry';
import { RecreateError, recreateContainer } from './recreate';

/** The shared versioned busybox, with a declared volume. */
const appImage = (version: string) => versionedImage(version, { Volumes: { '/cache': {} } });

describe('recreate a container with a newer image, keeping its settings', () => {
  let registry: StartedRegistry;
  let root: string;
  let engine: Engine;
  const tag = Math.random().toString(36).slice(2, 8);
  const network = `bt-rc-net-${tag}`;

  beforeAll(async () => {
    registry = await startRegistry();
    root = await mkdtemp(join(tmpdir(), 'bt-rc-'));
    engine = await Engine.open({ dataRoot: root, ...testNetworkOptions() });
    await loadBusybox(engine);
    await engine.networks.create({ Name: network });
  });
  afterAll(async () => {
    for (const c of engine?.containers.list({ all: true }) ?? [])
      await engine.containers.remove(c.Id, { force: true, volumes: true }).catch(() => {});
    await engine?.networks.remove(network).catch(() => {});
    await engine?.close();
    await registry?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('pulls the newer image pushed under the same tag and keeps env, ports, volumes, labels, name, policy and networks', async () => {
    const reference = `${registry.host}/bt-rc/app:stable`;
    await pushImage(reference, await appImage('1'));
    const v1 = await engine.images.pull(reference);
    const hostPort = await freePort();
    const volume = `bt-rc-data-${tag}`;
    const { Id: oldId } = await engine.containers.create(
      {
        Image: reference,
        Env: ['MINE=kept', 'SECRET_TOKEN=s3cr3t'],
        Labels: { 'bt.mine': 'a' },
        StopTimeout: 1,
        HostConfig: {
          Binds: [`${volume}:/data`],
          PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] },
          RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 },
          NetworkMode: network,
          Memory: 64 * 1024 * 1024,
        },
        NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: ['bt-web-alias'] } } },
      },
      { name: `bt-rc-web-${tag}` },
    );
    await engine.containers.start(oldId);
    const before = engine.containers.inspect(oldId);
    const cache = before.Mounts.find((m) => m.Destination === '/cache');
    expect(cache?.Name).toBeTruthy();
    await writeFile(join(engine.volumes.mountpoint(volume), 'named.txt'), 'named data');
    await writeFile(join(engine.volumes.mountpoint(cache?.Name as string), 'anon.txt'), 'anonymous data');

    await pushImage(reference, await appImage('2'));
    const progress: PullProgress[] = [];
    const result = await recreateContainer(engine, `bt-rc-web-${tag}`, {
      pull: true,
      onProgress: (p) => progress.push(p),
    });

    expect(result.PreviousId).toBe(oldId);
    expect(result.Id).not.toBe(oldId);
    expect(result.Name).toBe(`bt-rc-web-${tag}`);
    expect(result.PreviousImageId).toBe(v1.Id);
    expect(result.ImageId).not.toBe(v1.Id);
    expect(result.ImageId).toBe((await engine.images.inspect(reference)).Id);
    expect(result.Warnings).toEqual([]);
    expect(progress.some((p) => p.status.startsWith('Pulling'))).toBe(true);
    expect(engine.containers.has(oldId)).toBe(false);

    const after = engine.containers.inspect(result.Id);
    expect(after.Name).toBe(`/bt-rc-web-${tag}`);
    expect(after.State.Running).toBe(true);
    // Set on the container: kept. Inherited from the image: the new image's.
    expect(after.Config.Env).toEqual(
      expect.arrayContaining(['MINE=kept', 'SECRET_TOKEN=s3cr3t', 'APP_VERSION=2']),
    );
    expect(after.Config.Env).not.toContain('APP_VERSION=1');
    expect(after.Config.Labels).toMatchObject({ 'bt.mine': 'a', 'bt.image.version': '2' });
    expect(after.Config.Cmd).toEqual(['sleep', '1000']);
    const hostConfig = after.HostConfig as Record<string, unknown>;
    expect(hostConfig.RestartPolicy).toEqual({ Name: 'unless-stopped', MaximumRetryCount: 0 });
    expect(hostConfig.PortBindings).toEqual({
      '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }],
    });
    expect(hostConfig.Memory).toBe(64 * 1024 * 1024);
    const networks = (after.NetworkSettings as { Networks: Record<string, { Aliases: string[] | null }> })
      .Networks;
    expect(Object.keys(networks)).toEqual([network]);
    expect(networks[network]?.Aliases).toContain('bt-web-alias');
    expect(networks[network]?.Aliases).not.toContain(oldId.slice(0, 12));
    // Both volumes are the same ones, with their data.
    const data = after.Mounts.find((m) => m.Destination === '/data');
    const anon = after.Mounts.find((m) => m.Destination === '/cache');
    expect(data?.Name).toBe(volume);
    expect(anon?.Name).toBe(cache?.Name);
    expect(await readFile(join(engine.volumes.mountpoint(volume), 'named.txt'), 'utf8')).toBe('named data');
    expect(await readFile(join(anon?.Source as string, 'anon.txt'), 'utf8')).toBe('anonymous data');
  });

  it('leaves the old container running and untouched when the pull fails', async () => {
    const port = await freePort();
    // A registry nobody listens on: the pull fails fast (connection refused).
    const reference = `127.0.0.1:${port}/bt-rc/gone:1`;
    await importImage(engine, await appImage('1'), reference);
    const { Id } = await engine.containers.create({ Image: reference }, { name: `bt-rc-pullfail-${tag}` });
    await engine.containers.start(Id);
    const before = engine.containers.inspect(Id);

    const error = await recreateContainer(engine, Id, { pull: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RecreateError);
    expect((error as RecreateError).step).toBe('pull');
    expect((error as RecreateError).restored).toBe(true);
    expect((error as RecreateError).message).toMatch(/^recreate failed at pull: /);

    const after = engine.containers.inspect(Id);
    expect(after.Name).toBe(before.Name);
    expect(after.State.Running).toBe(true);
    expect(after.State.StartedAt).toBe(before.State.StartedAt);
    expect(engine.containers.list({ all: true }).filter((c) => c.Names[0] === before.Name)).toHaveLength(1);
  });

  it('puts the old container back (name, running) when the new one cannot be created', async () => {
    const busybox = await engine.images.inspect('busybox');
    await engine.images.tag('busybox', `bt-rc-untagged-${tag}:1`);
    const { Id } = await engine.containers.create(
      { Image: `bt-rc-untagged-${tag}:1`, Cmd: ['sleep', '1000'], StopTimeout: 1 },
      { name: `bt-rc-rollback-${tag}` },
    );
    await engine.containers.start(Id);
    // The tag goes (busybox keeps the image): without a pull, the new container has no image to start from.
    await engine.images.remove(`bt-rc-untagged-${tag}:1`);
    expect((await engine.images.inspect('busybox')).Id).toBe(busybox.Id);

    const error = await recreateContainer(engine, Id, { pull: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RecreateError);
    expect(EngineError.is(error, 'not_found')).toBe(true);
    expect((error as RecreateError).step).toBe('create');
    expect((error as RecreateError).restored).toBe(true);
    const after = engine.containers.inspect(Id);
    expect(after.Name).toBe(`/bt-rc-rollback-${tag}`);
    expect(after.State.Running).toBe(true);
    expect(
      engine.containers.list({ all: true }).filter((c) => c.Names[0]?.includes('bt-rc-rollback')),
    ).toHaveLength(1);
  });
});
