import { spawnSync } from 'node:child_process';
import { lstat, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine';
import { EngineError } from '../errors';
import type { EngineEvent } from '../events';
import {
  type BuiltImage,
  layeredImage,
  loadBusybox,
  multiPlatformImages,
  pushBusybox,
  pushImage,
  pushIndex,
} from '../testing/images';
import { type StartedRegistry, startRegistry } from '../testing/registry';
import type { PullProgress } from './types';

async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'bt-img-root-'));
}

function getfattr(path: string, name: string): string {
  const out = spawnSync('getfattr', ['--only-values', '-n', name, path], { encoding: 'utf8' });
  return out.status === 0 ? out.stdout : '';
}

describe('pull from a real registry (anonymous)', () => {
  let registry: StartedRegistry;
  let root: string;
  let engine: Engine;

  beforeAll(async () => {
    registry = await startRegistry();
    root = await tempRoot();
    engine = await Engine.open({ dataRoot: root });
  });
  afterAll(async () => {
    await engine?.close();
    await registry?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('pulls busybox into content and an unpacked snapshot, with Docker-shaped progress and events', async () => {
    const reference = await pushBusybox(registry, 'bt-img/busybox:1');
    const progress: PullProgress[] = [];
    const events: EngineEvent[] = [];
    const off = engine.events.on((e) => events.push(e));
    const inspect = await engine.images.pull(reference, { onProgress: (p) => progress.push(p) });
    off();
    expect(inspect.RepoTags).toEqual([`${registry.host}/bt-img/busybox:1`]);
    expect(inspect.RepoDigests[0]).toMatch(
      new RegExp(`^${registry.host}/bt-img/busybox@sha256:[0-9a-f]{64}$`),
    );
    expect(inspect.Id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(inspect.Config.Cmd).toEqual(['sh']);
    expect(inspect.Os).toBe('linux');
    expect(inspect.Size).toBeGreaterThan(500_000);
    const statuses = progress.map((p) => p.status);
    for (const s of [
      'Pulling fs layer',
      'Downloading',
      'Verifying Checksum',
      'Download complete',
      'Extracting',
      'Pull complete',
    ])
      expect(statuses).toContain(s);
    expect(statuses.some((s) => s.startsWith('Digest: sha256:'))).toBe(true);
    expect(statuses.at(-1)).toBe(`Status: Downloaded newer image for ${registry.host}/bt-img/busybox:1`);
    expect(events.map((e) => `${e.Type}:${e.Action}`)).toContain('image:pull');

    const [lower] = engine.images.snapshotDirs(inspect.Id);
    expect(lower).toBeDefined();
    const dir = lower as string;
    expect((await lstat(join(dir, 'bin/busybox'))).mode & 0o777).toBe(0o755);
    expect(await readlink(join(dir, 'bin/sh'))).toBe('busybox');
    expect((await lstat(join(dir, 'tmp'))).mode & 0o7777).toBe(0o1777);
    expect((await lstat(join(dir, 'home/app'))).uid).toBe(1000);
    expect(await readFile(join(dir, 'etc/passwd'), 'utf8')).toContain('app:x:1000:1000');

    const again: PullProgress[] = [];
    await engine.images.pull(reference, { onProgress: (p) => again.push(p) });
    expect(again.map((p) => p.status)).toContain('Already exists');
    expect(again.at(-1)?.status).toBe(`Status: Image is up to date for ${registry.host}/bt-img/busybox:1`);
  });

  it('unpacks whiteouts as 0/0 char devices and opaque dirs as trusted.overlay.opaque, zstd included', async () => {
    const image = await layeredImage();
    await pushImage(`${registry.host}/bt-img/layered:1`, image);
    const inspect = await engine.images.pull(`${registry.host}/bt-img/layered:1`);
    const dirs = engine.images.snapshotDirs(inspect.Id);
    expect(dirs).toHaveLength(3);
    const [top, middle] = dirs as [string, string, string];
    const whiteout = await lstat(join(top, 'data/a'));
    expect(whiteout.isCharacterDevice()).toBe(true);
    expect(whiteout.rdev).toBe(0);
    expect(getfattr(join(top, 'opq'), 'trusted.overlay.opaque')).toBe('y');
    expect(await readFile(join(top, 'opq/new'), 'utf8')).toBe('new\n');
    const b = await lstat(join(middle, 'data/b'));
    expect([b.mode & 0o777, b.uid, b.gid]).toEqual([0o640, 1000, 1000]);
    expect(b.nlink).toBe(2);
    expect((await lstat(join(middle, 'data/b-link'))).ino).toBe(b.ino);
    expect(b.mtime.toISOString()).toBe('2024-01-01T00:00:00.000Z');
  });

  it('picks the platform from an index: linux/amd64 by default, linux/arm64/v8 on request', async () => {
    await pushIndex(`${registry.host}/bt-img/multi:1`, await multiPlatformImages());
    const amd = await engine.images.pull(`${registry.host}/bt-img/multi:1`);
    expect(amd.Architecture).toBe('amd64');
    const [amdDir] = engine.images.snapshotDirs(amd.Id);
    expect(await readFile(join(amdDir as string, 'etc/platform'), 'utf8')).toBe('linux/amd64\n');

    const arm = await engine.images.pull(`${registry.host}/bt-img/multi:1`, { platform: 'linux/arm64/v8' });
    expect(arm.Architecture).toBe('arm64');
    const [armDir] = engine.images.snapshotDirs(arm.Id);
    expect(await readFile(join(armDir as string, 'etc/platform'), 'utf8')).toBe('linux/arm64\n');

    await expect(
      engine.images.pull(`${registry.host}/bt-img/multi:1`, { platform: 'linux/s390x' }),
    ).rejects.toThrow(/no matching manifest for linux\/s390x/);
  });

  it('pulls Docker schema2 manifests and manifest lists, and by digest', async () => {
    const [amd64, arm64] = await multiPlatformImages('docker');
    const listDigest = await pushIndex(
      `${registry.host}/bt-img/dockerlist:1`,
      [amd64 as BuiltImage, arm64 as BuiltImage],
      {
        docker: true,
      },
    );
    const fromList = await engine.images.pull(`${registry.host}/bt-img/dockerlist:1`, {
      platform: 'linux/arm64',
    });
    expect(fromList.Architecture).toBe('arm64');
    expect(fromList.RepoDigests).toContain(`${registry.host}/bt-img/dockerlist@${listDigest}`);

    const byDigest = await engine.images.pull(`${registry.host}/bt-img/dockerlist@${listDigest}`);
    expect(byDigest.Architecture).toBe('amd64');
    // Same config bytes as the OCI amd64 image pulled above, so the same image ID, as in Docker.
    expect(byDigest.RepoDigests).toContain(`${registry.host}/bt-img/dockerlist@${listDigest}`);
    expect((await engine.images.get(`${registry.host}/bt-img/dockerlist@${listDigest}`)).id).toBe(
      byDigest.Id,
    );

    const wrongDigest = `sha256:${'1'.repeat(64)}`;
    const missing = await engine.images
      .pull(`${registry.host}/bt-img/dockerlist@${wrongDigest}`)
      .catch((e: unknown) => e);
    expect(EngineError.is(missing, 'not_found')).toBe(true);
  });

  it('names the image when it does not exist', async () => {
    const error = await engine.images.pull(`${registry.host}/bt-img/nothing:here`).catch((e: unknown) => e);
    expect(EngineError.is(error, 'not_found')).toBe(true);
    expect((error as Error).message).toContain(`${registry.host}/bt-img/nothing:here`);
  });

  it('lets skopeo read the store as an OCI layout', async () => {
    const id = await loadBusybox(engine, 'bt-img/skopeo:1');
    const out = await tempRoot();
    try {
      const copy = spawnSync(
        'skopeo',
        ['copy', `oci:${join(root, 'content')}:docker.io/bt-img/skopeo:1`, `dir:${join(out, 'x')}`],
        { encoding: 'utf8' },
      );
      expect(copy.stderr).toBe('');
      expect(copy.status).toBe(0);
      const config = JSON.parse(await readFile(join(out, 'x', id.slice(7)), 'utf8'));
      expect(config.config.Cmd).toEqual(['sh']);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
