import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine';
import type { EngineEvent } from '../events';
import { buildImage, buildLayer, busyboxEntries, importImage } from '../testing/images';
import { testNetworkOptions } from '../testing/network';

interface Inspected {
  State: {
    Status: string;
    Health?: { Status: string; FailingStreak: number; Log: Array<{ ExitCode: number }> };
  };
  Config: { Healthcheck?: unknown };
}

describe('healthchecks through engine restarts', () => {
  let root: string;
  let engine: Engine;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bt-health-'));
    engine = await Engine.open({ dataRoot: root, ...testNetworkOptions() });
    // An image whose Dockerfile said HEALTHCHECK: its containers inherit the check.
    const image = buildImage({
      layers: [await buildLayer(await busyboxEntries())],
      config: { Healthcheck: { Test: ['CMD-SHELL', 'test ! -e /tmp/sick'], Interval: 150e6, Retries: 1 } },
    });
    await importImage(engine, image, 'bt-health/checked:1');
  });
  afterAll(async () => {
    for (const { Id } of engine?.containers.list({ all: true }) ?? [])
      await engine.containers.remove(Id, { force: true }).catch(() => undefined);
    await engine?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  const inspect = async (id: string) => (await engine.containers.inspect(id)) as unknown as Inspected;
  const health = async (id: string) => (await inspect(id)).State.Health;

  it("inherits the image's check, reports changes as events, keeps probing across an engine restart, and stops with the container", async () => {
    const events: EngineEvent[] = [];
    engine.events.on((event) => events.push(event));
    const { Id } = await engine.containers.create({
      Image: 'bt-health/checked:1',
      Cmd: ['sleep', '1000'],
      HostConfig: { NetworkMode: 'none' },
    });
    await engine.containers.start(Id);
    expect((await inspect(Id)).Config.Healthcheck).toMatchObject({
      Test: ['CMD-SHELL', 'test ! -e /tmp/sick'],
    });
    expect(await health(Id)).toMatchObject({ Status: 'starting' });
    await expect
      .poll(async () => (await health(Id))?.Status, { timeout: 5000, interval: 50 })
      .toBe('healthy');

    // The agent restarts: the container runs on, and so do its probes, from the health it had.
    await engine.close();
    engine = await Engine.open({ dataRoot: root, ...testNetworkOptions() });
    engine.events.on((event) => events.push(event));
    expect(await health(Id)).toMatchObject({ Status: 'healthy' });
    const session = await engine.containers.execStart(
      engine.containers.execCreate(Id, { Cmd: ['touch', '/tmp/sick'] }).Id,
    );
    session.stdout.resume();
    session.stderr.resume();
    expect(await session.exit).toBe(0);
    await expect
      .poll(async () => (await health(Id))?.Status, { timeout: 5000, interval: 50 })
      .toBe('unhealthy');
    expect(
      events.filter((e) => e.Actor.ID === Id && e.Action.startsWith('health_status')).map((e) => e.Action),
    ).toEqual(['health_status: healthy', 'health_status: unhealthy']);

    // Stopped, it is probed no more; started again, it begins as `starting` (and its /tmp/sick is still there).
    await engine.containers.stop(Id, { timeout: 0 });
    const logged = (await health(Id))?.Log.length;
    await new Promise((r) => setTimeout(r, 500));
    expect((await health(Id))?.Log.length).toBe(logged);
    await engine.containers.start(Id);
    expect(await health(Id)).toMatchObject({ Status: 'starting', FailingStreak: 0 });
    await expect
      .poll(async () => (await health(Id))?.Status, { timeout: 5000, interval: 50 })
      .toBe('unhealthy');
    await engine.containers.remove(Id, { force: true });
  });

  it('runs no check for --no-healthcheck (test NONE) and none for an image without one', async () => {
    const none = await engine.containers.create({
      Image: 'bt-health/checked:1',
      Cmd: ['sleep', '1000'],
      Healthcheck: { Test: ['NONE'] },
      HostConfig: { NetworkMode: 'none' },
    });
    await engine.containers.start(none.Id);
    expect((await inspect(none.Id)).State.Health).toBeUndefined();
    expect(engine.containers.list({ filters: { health: ['none'] } }).map((c) => c.Id)).toEqual([none.Id]);
    expect(engine.containers.list({}).find((c) => c.Id === none.Id)?.Status).toMatch(/^Up [^(]*$/);
    await engine.containers.remove(none.Id, { force: true });
    await expect(
      engine.containers.create({
        Image: 'bt-health/checked:1',
        Healthcheck: { Test: ['CMD', 'true'], Interval: 10 },
      }),
    ).rejects.toThrow('Interval in Healthcheck cannot be less than 1ms');
  });
});
