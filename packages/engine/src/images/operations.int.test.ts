import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../engine';
import { EngineError } from '../errors';
import type { EngineEvent } from '../events';
import { importImage, layeredImage, loadBusybox, pushBusybox } from '../testing/images';
import { startRegistry } from '../testing/registry';

describe('image operations', () => {
  let root: string;
  let engine: Engine;
  let events: EngineEvent[];

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'bt-img-root-'));
    engine = await Engine.open({ dataRoot: root });
    events = [];
    engine.events.on((e) => events.push(e));
  });
  afterEach(async () => {
    await engine?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('gives the runtime the image config and overlay lowerdirs, top layer first', async () => {
    const id = await importImage(engine, await layeredImage(), 'bt-img/layered:1');
    const image = await engine.images.get('bt-img/layered:1');
    expect(image.id).toBe(id);
    expect(image.config.Cmd).toEqual(['cat', '/data/b']);
    expect(image.config.WorkingDir).toBe('/data');
    expect(image.config.Env?.[0]).toMatch(/^PATH=/);
    const dirs = engine.images.snapshotDirs(id);
    expect(dirs).toHaveLength(3);
    for (const dir of dirs) expect(dir.startsWith(join(root, 'snapshots'))).toBe(true);
    expect(await readdir(dirs[0] as string)).toEqual(expect.arrayContaining(['data', 'opq']));
    expect(await readdir(dirs[2] as string)).toContain('bin');
    // By ID, short ID and the Docker Hub forms of the name.
    expect((await engine.images.get(id)).id).toBe(id);
    expect((await engine.images.get(id.slice(7, 19))).id).toBe(id);
    expect((await engine.images.get('docker.io/bt-img/layered:1')).id).toBe(id);
  });

  it('tags, lists and inspects the way Docker shows them', async () => {
    const id = await loadBusybox(engine);
    await engine.images.tag('busybox', 'bt-img/other:2');
    const [row] = engine.images.list();
    expect(row?.Id).toBe(id);
    expect(row?.RepoTags.sort()).toEqual(['bt-img/other:2', 'busybox:latest']);
    const inspect = await engine.images.inspect('bt-img/other:2');
    expect(inspect.Id).toBe(id);
    expect(inspect.RootFS.Layers).toHaveLength(1);
    expect(inspect.Architecture).toBe('amd64');
    expect(inspect.Created).toBe('2024-01-01T00:00:00.000Z');
    expect(events.filter((e) => e.Action === 'tag').map((e) => e.Actor.Attributes.name)).toEqual([
      'bt-img/other:2',
    ]);
    // Tags are in the OCI index under their full names, for skopeo and friends.
    const index = JSON.parse(await readFile(join(root, 'content/index.json'), 'utf8'));
    const names = index.manifests.map(
      (m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'],
    );
    expect(names.sort()).toEqual(['docker.io/bt-img/other:2', 'docker.io/library/busybox:latest']);
    await expect(engine.images.inspect('bt-img/missing')).rejects.toSatisfy((e) =>
      EngineError.is(e, 'not_found'),
    );
    await expect(engine.images.tag('busybox', 'Bad:Name')).rejects.toSatisfy((e) =>
      EngineError.is(e, 'invalid_argument'),
    );
  });

  it('untags first, deletes with the last reference, and cleans content and snapshots', async () => {
    const id = await loadBusybox(engine);
    await engine.images.tag('busybox', 'bt-img/second:1');
    expect(await engine.images.remove('busybox')).toEqual([{ Untagged: 'busybox:latest' }]);
    const removed = await engine.images.remove('bt-img/second:1');
    expect(removed).toEqual([{ Untagged: 'bt-img/second:1' }, { Deleted: id }]);
    expect(engine.images.list()).toEqual([]);
    expect(await readdir(join(root, 'snapshots'))).toEqual([]);
    expect(await readdir(join(root, 'content/blobs/sha256'))).toEqual([]);
    expect(events.map((e) => e.Action)).toEqual(['tag', 'untag', 'untag', 'delete']);
    await expect(engine.images.remove(id)).rejects.toSatisfy((e) => EngineError.is(e, 'not_found'));
  });

  it('removes a digest reference on its own while a tag still names the image', async () => {
    await using registry = await startRegistry();
    const reference = await pushBusybox(registry, 'bt-img/bydigest:1');
    const pulled = await engine.images.pull(reference);
    const digestRef = pulled.RepoDigests[0] as string;
    expect(await engine.images.remove(digestRef)).toEqual([{ Untagged: digestRef }]);
    expect((await engine.images.inspect(reference)).RepoDigests).toEqual([]);
    // Now the tag is the last name: removing it deletes the image.
    expect(await engine.images.remove(reference)).toContainEqual({ Deleted: pulled.Id });
  });

  it('keeps layers another image still uses', async () => {
    await loadBusybox(engine);
    const layered = await importImage(engine, await layeredImage(), 'bt-img/layered:1');
    await engine.images.remove('busybox');
    // The busybox layer is the layered image's bottom layer: it must survive.
    const dirs = engine.images.snapshotDirs(layered);
    expect(await readdir(dirs[2] as string)).toContain('bin');
  });

  it('refuses to remove an image a container uses unless forced', async () => {
    const id = await loadBusybox(engine);
    const users = new Set(['c0ffee00c0ffee00c0ffee00']);
    engine.images.setUsage((imageId) => (imageId === id ? [...users] : []));
    const refused = await engine.images.remove('busybox').catch((e: unknown) => e);
    expect(EngineError.is(refused, 'conflict')).toBe(true);
    expect((refused as Error).message).toContain('c0ffee00c0ff');
    // Forced: untagged, but the image stays for its container, as Docker does.
    expect(await engine.images.remove('busybox', { force: true })).toEqual([{ Untagged: 'busybox:latest' }]);
    expect(engine.images.list({ dangling: true }).map((r) => r.Id)).toEqual([id]);
    // Prune leaves it while in use, removes it after.
    expect((await engine.images.prune()).ImagesDeleted).toEqual([]);
    users.clear();
    const pruned = await engine.images.prune();
    expect(pruned.ImagesDeleted).toEqual([{ Deleted: id }]);
    expect(pruned.SpaceReclaimed).toBeGreaterThan(500_000);
  });

  it('refuses to remove by ID an image with several tags unless forced', async () => {
    const id = await loadBusybox(engine);
    await engine.images.tag(id, 'bt-img/again:1');
    await expect(engine.images.remove(id.slice(7, 19))).rejects.toSatisfy((e) =>
      EngineError.is(e, 'conflict'),
    );
    const removed = await engine.images.remove(id, { force: true });
    expect(removed).toContainEqual({ Deleted: id });
  });

  it('keeps its records across a restart', async () => {
    const id = await loadBusybox(engine);
    await engine.close();
    // A damaged record costs only its own image, not the engine.
    await writeFile(join(root, 'images', `${'a'.repeat(64)}.json`), '{"id": "not a digest"');
    await writeFile(join(root, 'images', `${'b'.repeat(64)}.json`), '{"id": "sha256:x"}');
    engine = await Engine.open({ dataRoot: root });
    expect(engine.images.list()).toHaveLength(1);
    expect((await engine.images.inspect('busybox')).Id).toBe(id);
    expect(engine.images.list()[0]?.Created).toBe(Date.parse('2024-01-01T00:00:00Z') / 1000);
  });
});
