import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine';
import { EngineError } from '../errors';
import { startFaultProxy } from '../testing/fault-proxy';
import {
  buildImage,
  buildLayer,
  busyboxImage,
  layeredImage,
  loadBusybox,
  pushImage,
} from '../testing/images';
import { freePort, type StartedRegistry, startRegistry } from '../testing/registry';

const fast = { retries: 3, backoff: () => 5 };

async function withEngine<T>(fn: (engine: Engine, root: string) => Promise<T>): Promise<T> {
  const root = await mkdtemp(join(tmpdir(), 'bt-img-root-'));
  try {
    await using engine = await Engine.open({ dataRoot: root, registry: fast });
    return await fn(engine, root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Nothing half-written: no ingest leftovers, no blobs, no snapshots, no records. */
async function expectNothingLeft(engine: Engine, root: string): Promise<void> {
  expect(await readdir(join(root, 'content/ingest'))).toEqual([]);
  expect(await readdir(join(root, 'content/blobs/sha256'))).toEqual([]);
  expect(await readdir(join(root, 'snapshots'))).toEqual([]);
  expect(engine.images.list()).toEqual([]);
}

describe('pull failures', () => {
  let registry: StartedRegistry;
  let busyboxLayer: string;
  beforeAll(async () => {
    registry = await startRegistry();
    const image = await busyboxImage();
    await pushImage(`${registry.host}/bt-img/faulty:1`, image);
    busyboxLayer = [...image.blobs.keys()].find((d) => d !== image.config.digest) as string;
  });
  afterAll(async () => registry?.stop());

  it('retries a blob after 5xx answers (proxy injects two 503s)', async () => {
    let failures = 0;
    await using proxy = await startFaultProxy(registry.host, (method, path) =>
      method === 'GET' && path.endsWith(busyboxLayer) && failures++ < 2
        ? { kind: 'status', status: 503 }
        : undefined,
    );
    await withEngine(async (engine) => {
      const pulled = await engine.images.pull(`${proxy.host}/bt-img/faulty:1`);
      expect(pulled.RepoTags).toEqual([`${proxy.host}/bt-img/faulty:1`]);
      expect(proxy.requests.filter((r) => r.fault === 'status')).toHaveLength(2);
    });
  });

  it('follows a blob redirect to another origin, as registries backed by blob storage send', async () => {
    await using proxy = await startFaultProxy(registry.host, (method, path) =>
      method === 'GET' && path.includes('/blobs/')
        ? { kind: 'redirect', location: `${registry.url}${path}` }
        : undefined,
    );
    await withEngine(async (engine) => {
      const pulled = await engine.images.pull(`${proxy.host}/bt-img/faulty:1`);
      expect(pulled.Id).toBe((await busyboxImage()).config.digest);
      expect(proxy.requests.filter((r) => r.fault === 'redirect')).toHaveLength(2); // config and layer
    });
  });

  it('resumes after a connection cut mid-blob (proxy drops the socket once)', async () => {
    let cuts = 0;
    await using proxy = await startFaultProxy(registry.host, (method, path) =>
      method === 'GET' && path.endsWith(busyboxLayer) && cuts++ < 1
        ? { kind: 'cut', afterBytes: 200_000 }
        : undefined,
    );
    await withEngine(async (engine) => {
      const pulled = await engine.images.pull(`${proxy.host}/bt-img/faulty:1`);
      expect(pulled.Id).toBe((await busyboxImage()).config.digest);
      expect(proxy.requests.filter((r) => r.fault === 'cut')).toHaveLength(1);
    });
  });

  it('fails cleanly when the registry keeps stopping mid-blob (proxy always cuts)', async () => {
    await using proxy = await startFaultProxy(registry.host, (method, path) =>
      method === 'GET' && path.endsWith(busyboxLayer) ? { kind: 'cut', afterBytes: 100_000 } : undefined,
    );
    await withEngine(async (engine, root) => {
      const error = await engine.images.pull(`${proxy.host}/bt-img/faulty:1`).catch((e: unknown) => e);
      expect(EngineError.is(error, 'unavailable')).toBe(true);
      expect((error as Error).message).toContain(`pull ${proxy.host}/bt-img/faulty:1`);
      await expectNothingLeft(engine, root);
    });
  });

  it('rejects a blob whose bytes do not match its digest (proxy flips a byte)', async () => {
    await using proxy = await startFaultProxy(registry.host, (method, path) =>
      method === 'GET' && path.endsWith(busyboxLayer) ? { kind: 'corrupt' } : undefined,
    );
    await withEngine(async (engine, root) => {
      const error = await engine.images.pull(`${proxy.host}/bt-img/faulty:1`).catch((e: unknown) => e);
      expect(EngineError.is(error, 'digest_mismatch')).toBe(true);
      expect((error as Error).message).toContain('bt-img/faulty:1');
      await expectNothingLeft(engine, root);
    });
  });

  it('refuses a manifest over 4 MiB (proxy serves one)', async () => {
    const huge = Buffer.from(JSON.stringify({ schemaVersion: 2, pad: 'x'.repeat(4 * 1024 * 1024 + 1) }));
    await using proxy = await startFaultProxy(registry.host, (_method, path) =>
      path.includes('/manifests/')
        ? { kind: 'body', contentType: 'application/vnd.oci.image.manifest.v1+json', body: huge }
        : undefined,
    );
    await withEngine(async (engine, root) => {
      const error = await engine.images.pull(`${proxy.host}/bt-img/faulty:1`).catch((e: unknown) => e);
      expect(EngineError.is(error, 'too_large')).toBe(true);
      await expectNothingLeft(engine, root);
    });
  });

  it('rejects a layer whose unpacked content does not match the config diff ID', async () => {
    const layer = await buildLayer([{ path: 'file', content: 'real\n' }]);
    const liar = buildImage({ layers: [{ ...layer, diffId: `sha256:${'0'.repeat(64)}` }] });
    await pushImage(`${registry.host}/bt-img/liar:1`, liar);
    await withEngine(async (engine, root) => {
      const error = await engine.images.pull(`${registry.host}/bt-img/liar:1`).catch((e: unknown) => e);
      expect(EngineError.is(error, 'digest_mismatch')).toBe(true);
      expect((error as Error).message).toContain('config says');
      await expectNothingLeft(engine, root);
    });
  });

  it('reports a registry that is down as unavailable, naming the image', async () => {
    const port = await freePort();
    await withEngine(async (engine, root) => {
      const error = await engine.images.pull(`127.0.0.1:${port}/bt-img/gone:1`).catch((e: unknown) => e);
      expect(EngineError.is(error, 'unavailable')).toBe(true);
      expect((error as Error).message).toContain(`127.0.0.1:${port}/bt-img/gone:1`);
      await expectNothingLeft(engine, root);
    });
  });

  it('pulls the same image twice at once without corrupting shared layers', async () => {
    await pushImage(`${registry.host}/bt-img/layered:1`, await layeredImage());
    await withEngine(async (engine, root) => {
      const [a, b] = await Promise.all([
        engine.images.pull(`${registry.host}/bt-img/layered:1`),
        engine.images.pull(`${registry.host}/bt-img/layered:1`),
      ]);
      expect(a.Id).toBe(b.Id);
      expect(await readdir(join(root, 'content/ingest'))).toEqual([]);
      expect(engine.images.snapshotDirs(a.Id)).toHaveLength(3);
    });
  });

  it('sweeps ingest, half-unpacked snapshots and unrecorded content left by a crashed process on open', async () => {
    const root = await mkdtemp(join(tmpdir(), 'bt-img-root-'));
    try {
      await mkdir(join(root, 'content/ingest'), { recursive: true });
      await mkdir(join(root, 'snapshots/.tmp-deadbeef'), { recursive: true });
      await writeFile(join(root, 'content/ingest', 'abc.partial'), 'half');
      // Committed but never recorded: an orphan snapshot and blob.
      await mkdir(join(root, 'snapshots', 'e'.repeat(64), 'etc'), { recursive: true });
      await mkdir(join(root, 'content/blobs/sha256'), { recursive: true });
      await writeFile(join(root, 'content/blobs/sha256', 'f'.repeat(64)), 'orphan');
      {
        await using engine = await Engine.open({ dataRoot: root });
        await loadBusybox(engine);
      }
      await using engine = await Engine.open({ dataRoot: root });
      expect(await readdir(join(root, 'content/ingest'))).toEqual([]);
      expect(await readdir(join(root, 'snapshots'))).toHaveLength(1);
      expect(await readdir(join(root, 'content/blobs/sha256'))).toHaveLength(3); // busybox: manifest, config, layer
      expect(engine.images.snapshotDirs((await engine.images.get('busybox')).id)).toHaveLength(1);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
