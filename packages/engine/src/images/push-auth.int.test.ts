import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine';
import { EngineError } from '../errors';
import { startFaultProxy } from '../testing/fault-proxy';
import { busyboxImage, layeredImage, loadBusybox, pushBusybox, pushImage } from '../testing/images';
import { type StartedRegistry, startRegistry } from '../testing/registry';
import type { PullProgress } from './types';

const user = { username: 'bt-img-user', password: 'bt-img-secret' };
const wrong = { username: 'bt-img-user', password: 'not-the-password' };

async function withEngine<T>(fn: (engine: Engine) => Promise<T>): Promise<T> {
  const root = await mkdtemp(join(tmpdir(), 'bt-img-root-'));
  try {
    await using engine = await Engine.open({ dataRoot: root });
    return await fn(engine);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

describe('htpasswd registry', () => {
  let registry: StartedRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ auth: 'htpasswd', users: { [user.username]: user.password } });
  });
  afterAll(async () => registry?.stop());

  it('pushes and pulls with credentials, and the round trip keeps every digest', async () => {
    await withEngine(async (engine) => {
      const id = await loadBusybox(engine, 'bt-img/local:1');
      const target = `${registry.host}/bt-img/roundtrip:1`;
      await engine.images.tag('bt-img/local:1', target);
      const progress: PullProgress[] = [];
      const pushed = await engine.images.push(target, {
        credentials: user,
        onProgress: (p) => progress.push(p),
      });
      const statuses = progress.map((p) => p.status);
      expect(statuses).toContain('Pushed');
      expect(statuses.at(-1)).toBe(`1: digest: ${pushed.digest} size: ${pushed.size}`);
      expect(pushed.digest).toBe((await busyboxImage()).manifest.digest);

      // Berth's push is readable by another client.
      const inspect = spawnSync(
        'skopeo',
        ['inspect', '--tls-verify=false', `--creds=${user.username}:${user.password}`, `docker://${target}`],
        { encoding: 'utf8' },
      );
      expect(inspect.status).toBe(0);
      expect(JSON.parse(inspect.stdout).Digest).toBe(pushed.digest);

      // A second push finds every layer already there.
      const again: PullProgress[] = [];
      await engine.images.push(target, { credentials: user, onProgress: (p) => again.push(p) });
      expect(again.map((p) => p.status)).toContain('Layer already exists');

      await withEngine(async (other) => {
        const pulled = await other.images.pull(target, { credentials: user });
        expect(pulled.Id).toBe(id);
        expect(pulled.RepoDigests).toEqual([`${registry.host}/bt-img/roundtrip@${pushed.digest}`]);
      });
    });
  });

  it('pull -> push -> pull across registries keeps manifest digest, image ID and layers', async () => {
    await using source = await startRegistry();
    const origin = `${source.host}/bt-img/origin:1`;
    const originDigest = await pushImage(origin, await layeredImage());
    await withEngine(async (engine) => {
      const pulled = await engine.images.pull(origin);
      const target = `${registry.host}/bt-img/copied:1`;
      await engine.images.tag(origin, target);
      const pushes: string[] = [];
      engine.events.on((e) => {
        if (e.Action === 'push') pushes.push(e.Actor.ID);
      });
      const pushed = await engine.images.push(target, { credentials: user });
      expect(pushed.digest).toBe(originDigest);
      expect(pushes).toEqual([target]);
      await withEngine(async (other) => {
        const again = await other.images.pull(target, { credentials: user });
        expect(again.Id).toBe(pulled.Id);
        expect(again.RootFS.Layers).toEqual(pulled.RootFS.Layers);
        expect(again.RepoDigests).toEqual([`${registry.host}/bt-img/copied@${originDigest}`]);
      });
    });
  });

  it('uploads big blobs in chunks when configured, and the registry serves them back intact', async () => {
    // A pass-through proxy (no faults) only to count the PATCH requests.
    await using proxy = await startFaultProxy(registry.host, () => undefined);
    const root = await mkdtemp(join(tmpdir(), 'bt-img-root-'));
    try {
      await using engine = await Engine.open({ dataRoot: root, pushChunkSize: 256 * 1024 });
      const id = await loadBusybox(engine, `${proxy.host}/bt-img/chunked:1`);
      const pushed = await engine.images.push(`${proxy.host}/bt-img/chunked:1`, { credentials: user });
      expect(pushed.digest).toBe((await busyboxImage()).manifest.digest);
      const layerSize = [...(await busyboxImage()).blobs.values()].reduce(
        (max, b) => Math.max(max, b.descriptor.size),
        0,
      );
      const patches = proxy.requests.filter((r) => r.method === 'PATCH').length;
      expect(patches).toBe(Math.ceil(layerSize / (256 * 1024)));
      await withEngine(async (other) => {
        expect((await other.images.pull(`${registry.host}/bt-img/chunked:1`, { credentials: user })).Id).toBe(
          id,
        );
      });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('mounts blobs across repositories on push instead of uploading them again', async () => {
    await withEngine(async (engine) => {
      const first = `${registry.host}/bt-img/mount-a:1`;
      const second = `${registry.host}/bt-img/mount-b:1`;
      await pushImage(first, await layeredImage(), { credentials: user });
      await engine.images.pull(first, { credentials: user });
      await engine.images.tag(first, second);
      const progress: PullProgress[] = [];
      await engine.images.push(second, { credentials: user, onProgress: (p) => progress.push(p) });
      expect(progress.filter((p) => p.status === 'Mounted from bt-img/mount-a')).toHaveLength(3);
    });
  });

  it('refuses without or with wrong credentials, naming the image', async () => {
    const reference = await pushBusybox(registry, 'bt-img/private:1', user);
    await withEngine(async (engine) => {
      const anonymous = await engine.images.pull(reference).catch((e: unknown) => e);
      expect(EngineError.is(anonymous, 'unauthorized')).toBe(true);
      expect((anonymous as Error).message).toContain('bt-img/private:1');
      const bad = await engine.images.pull(reference, { credentials: wrong }).catch((e: unknown) => e);
      expect(EngineError.is(bad, 'unauthorized')).toBe(true);
      expect((bad as Error).message).not.toContain(wrong.password);
      expect(engine.images.list()).toEqual([]);
    });
  });
});

describe('token-auth registry', () => {
  let registry: StartedRegistry;
  beforeAll(async () => {
    registry = await startRegistry({
      auth: 'token',
      users: { [user.username]: user.password },
      anonymousPull: true,
    });
  });
  afterAll(async () => registry?.stop());

  it('pulls anonymously and with credentials through the bearer token flow, caching tokens', async () => {
    const reference = await pushBusybox(registry, 'bt-img/tokened:1', user);
    await withEngine(async (engine) => {
      const before = registry.tokenRequests();
      const anonymous = await engine.images.pull(reference);
      expect(anonymous.RepoTags).toEqual([reference]);
      // One token for the whole pull: manifest, config and layer requests reuse it.
      expect(registry.tokenRequests() - before).toBe(1);
    });
    await withEngine(async (engine) => {
      const pulled = await engine.images.pull(reference, { credentials: user });
      expect(pulled.RepoTags).toEqual([reference]);
    });
  });

  it('pushes with credentials and refuses an anonymous push', async () => {
    await withEngine(async (engine) => {
      await loadBusybox(engine, `${registry.host}/bt-img/token-push:1`);
      const denied = await engine.images
        .push(`${registry.host}/bt-img/token-push:1`)
        .catch((e: unknown) => e);
      expect(EngineError.is(denied, 'unauthorized')).toBe(true);
      const pushed = await engine.images.push(`${registry.host}/bt-img/token-push:1`, { credentials: user });
      expect(pushed.digest).toMatch(/^sha256:/);
    });
  });

  it('reports wrong credentials as unauthorized', async () => {
    await withEngine(async (engine) => {
      const error = await engine.images
        .pull(`${registry.host}/bt-img/tokened:1`, { credentials: wrong })
        .catch((e: unknown) => e);
      expect(EngineError.is(error, 'unauthorized')).toBe(true);
    });
  });
});
