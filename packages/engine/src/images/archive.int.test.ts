import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine';
import { EngineError } from '../errors';
import {
  type BuiltImage,
  buildImage,
  buildLayer,
  busyboxEntries,
  importImage,
  type LayerEntry,
  layeredImage,
  loadBusybox,
  tarBytes,
} from '../testing/images';

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** An archive's entries by name, as `tar -x` would see them. */
async function entriesOf(archive: Buffer): Promise<Map<string, Buffer>> {
  const extract = tar.extract();
  const out = new Map<string, Buffer>();
  Readable.from([archive]).pipe(extract as unknown as NodeJS.WritableStream);
  for await (const entry of extract) out.set(entry.header.name, await bytesOf(entry as unknown as Readable));
  return out;
}

async function archiveOf(
  entries: Array<[string, Buffer | string]>,
  extra: LayerEntry[] = [],
): Promise<Buffer> {
  return tarBytes([...entries.map(([path, content]): LayerEntry => ({ path, content })), ...extra]);
}

const hex = (digest: string) => digest.slice('sha256:'.length);
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * An archive in the form dockerd 20.10's `docker save` writes: `<config hex>.json`, `<id>/layer.tar` as plain
 * tars, manifest.json and repositories; a layer already written for an earlier image is a symlink to it.
 */
async function legacyArchive(images: Array<{ image: BuiltImage; tag: string }>): Promise<Buffer> {
  const entries: LayerEntry[] = [];
  const written = new Map<string, string>();
  const manifest = [];
  for (const { image, tag } of images) {
    const config = await bytesOf(image.blobs.get(image.config.digest)?.open() as Readable);
    entries.push({ path: `${hex(image.config.digest)}.json`, content: config });
    const layers: string[] = [];
    for (const diffId of JSON.parse(config.toString()).rootfs.diff_ids as string[]) {
      const blob = [...image.blobs.values()].find((b) => b.descriptor.digest === diffId);
      const id = hex(sha256(Buffer.from(`${tag}/${diffId}`)));
      const path = `${id}/layer.tar`;
      const earlier = written.get(diffId);
      if (earlier) entries.push({ path, type: 'symlink', linkname: `../${earlier}` });
      else {
        entries.push({ path: `${id}/`, type: 'directory' });
        entries.push({ path, content: await bytesOf(blob?.open() as Readable) });
        written.set(diffId, path);
      }
      layers.push(path);
    }
    manifest.push({ Config: `${hex(image.config.digest)}.json`, RepoTags: [tag], Layers: layers });
  }
  entries.push({ path: 'manifest.json', content: JSON.stringify(manifest) });
  return tarBytes(entries);
}

describe('docker save and docker load', () => {
  let root: string;
  let source: Engine;
  let target: Engine;
  let busyboxId: string;
  let layeredId: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bt-img-archive-'));
    source = await Engine.open({ dataRoot: join(root, 'source') });
    target = await Engine.open({ dataRoot: join(root, 'target') });
    busyboxId = await loadBusybox(source);
    await source.images.tag('busybox:latest', 'busybox:other');
    layeredId = await importImage(source, await layeredImage(), 'bt-img/layered:1');
  });
  afterAll(async () => {
    await source?.close();
    await target?.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  /** What the target engine holds, to show that a failed load added nothing. */
  async function holdings() {
    return {
      images: target.images.list({ all: true }).map((i) => i.Id),
      blobs: await target.images.content.list(),
      snapshots: (await readdir(join(root, 'target', 'snapshots'))).filter((n) => !n.startsWith('.')),
      ingest: await readdir(join(root, 'target', 'content', 'ingest')),
    };
  }

  async function loadFails(archive: Buffer): Promise<EngineError> {
    const before = await holdings();
    const error = await target.images.load(Readable.from([archive])).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EngineError);
    expect(await holdings()).toEqual(before);
    return error as EngineError;
  }

  it('carries images with their IDs, tags and layers from one engine to another', async () => {
    const archive = await bytesOf(await source.images.save(['busybox:latest', 'bt-img/layered:1']));
    const entries = await entriesOf(archive);
    // The OCI layout and Docker's manifest.json, every blob as stored.
    expect(JSON.parse(entries.get('oci-layout')?.toString() ?? '')).toEqual({ imageLayoutVersion: '1.0.0' });
    const manifest = JSON.parse(entries.get('manifest.json')?.toString() ?? '');
    expect(manifest.map((m: { RepoTags: string[] }) => m.RepoTags)).toEqual([
      ['busybox:latest'],
      ['bt-img/layered:1'],
    ]);
    for (const name of entries.keys())
      if (name.startsWith('blobs/sha256/'))
        expect(sha256(entries.get(name) as Buffer)).toBe(`sha256:${name.slice('blobs/sha256/'.length)}`);

    const loaded = await target.images.load(Readable.from([archive]));
    expect(loaded).toEqual([
      { id: busyboxId, tag: 'busybox:latest' },
      { id: layeredId, tag: 'bt-img/layered:1' },
    ]);
    for (const ref of ['busybox:latest', 'bt-img/layered:1']) {
      const [from, to] = await Promise.all([source.images.inspect(ref), target.images.inspect(ref)]);
      expect({ ...to, Metadata: undefined, GraphDriver: undefined }).toEqual({
        ...from,
        RepoTags: [ref],
        Metadata: undefined,
        GraphDriver: undefined,
      });
    }
    // The loaded image runs.
    const { Id } = await target.containers.create({
      Image: 'bt-img/layered:1',
      Cmd: ['cat', '/data/b'],
      HostConfig: { NetworkMode: 'none' },
    });
    await target.containers.start(Id);
    expect((await target.containers.wait(Id)).StatusCode).toBe(0);
    await target.containers.remove(Id);
    expect((await holdings()).ingest).toEqual([]);
  });

  it('saves every tag of a bare repository name, and an image given by ID without tags', async () => {
    const byRepository = await entriesOf(await bytesOf(await source.images.save(['busybox'])));
    expect(JSON.parse(byRepository.get('manifest.json')?.toString() ?? '')[0].RepoTags.sort()).toEqual([
      'busybox:latest',
      'busybox:other',
    ]);
    const byId = await bytesOf(await source.images.save([busyboxId.slice(7, 19)]));
    expect(JSON.parse((await entriesOf(byId)).get('manifest.json')?.toString() ?? '')[0].RepoTags).toEqual(
      [],
    );
    expect(await target.images.load(Readable.from([byId]))).toEqual([{ id: busyboxId }]);
    await expect(source.images.save(['bt-img/none'])).rejects.toMatchObject({ code: 'not_found' });
  });

  it("loads dockerd 20.10's form: plain layer tars, one shared through a symlink", async () => {
    const base = await buildLayer(await busyboxEntries(), 'none');
    const top = await buildLayer([{ path: 'etc/bt-legacy', content: 'legacy\n' }], 'none');
    const one = buildImage({ layers: [base], config: { Cmd: ['one'] } });
    const two = buildImage({ layers: [base, top], config: { Cmd: ['two'] } });
    const loaded = await target.images.load(
      Readable.from([
        await legacyArchive([
          { image: one, tag: 'bt-img/legacy:one' },
          { image: two, tag: 'bt-img/legacy:two' },
        ]),
      ]),
    );
    expect(loaded).toEqual([
      { id: one.config.digest, tag: 'bt-img/legacy:one' },
      { id: two.config.digest, tag: 'bt-img/legacy:two' },
    ]);
    expect((await target.images.inspect('bt-img/legacy:two')).RootFS.Layers).toEqual([
      base.diffId,
      top.diffId,
    ]);
  });

  it('loads a gzipped archive, as `docker save | gzip` makes', async () => {
    const archive = await bytesOf(await source.images.save(['busybox:other']));
    expect(await target.images.load(Readable.from([gzipSync(archive)]))).toEqual([
      { id: busyboxId, tag: 'busybox:other' },
    ]);
  });

  it('loads an OCI layout without manifest.json, named by its index annotations', async () => {
    const entries = await entriesOf(await bytesOf(await source.images.save(['bt-img/layered:1'])));
    entries.delete('manifest.json');
    await target.images.remove('bt-img/layered:1').catch(() => undefined);
    expect(await target.images.load(Readable.from([await archiveOf([...entries])]))).toEqual([
      { id: layeredId, tag: 'bt-img/layered:1' },
    ]);
  });

  it('refuses hostile or broken archives and keeps nothing of them', async () => {
    const good = await entriesOf(await bytesOf(await source.images.save(['busybox:latest'])));
    const manifest = JSON.parse(good.get('manifest.json')?.toString() ?? '');
    const [layerPath] = manifest[0].Layers as string[];

    // Names that climb out of the archive.
    const climbing = await loadFails(await archiveOf([...good, ['../bt-escape', 'x']]));
    expect(climbing.message).toContain('points outside the archive');
    const linkOut = await loadFails(
      await archiveOf(
        [...good].filter(([n]) => n !== layerPath),
        [{ path: layerPath as string, type: 'symlink', linkname: '../../../../etc/passwd' }],
      ),
    );
    expect(linkOut.message).toContain('points outside the archive');

    // A layer the archive does not hold.
    const missing = await loadFails(await archiveOf([...good].filter(([n]) => n !== layerPath)));
    expect(missing.message).toContain('which it does not hold');

    // A layer whose content is not what the image's config says (same size, other bytes).
    const original = good.get(layerPath as string) as Buffer;
    const swapped = await buildLayer([{ path: 'bt-swapped', content: randomBytes(64) }]);
    const forged = new Map(good);
    forged.set(layerPath as string, await bytesOf(swapped.open()));
    expect(forged.get(layerPath as string)).not.toEqual(original);
    const mismatch = await loadFails(await archiveOf([...forged]));
    expect(mismatch.code).toBe('digest_mismatch');

    // Not a tar at all, and a manifest.json that is not Docker's.
    expect((await loadFails(randomBytes(4096))).message).toContain('invalid image archive');
    const notDocker = await loadFails(await archiveOf([['manifest.json', '{"Config":1}']]));
    expect(notDocker.message).toContain("manifest.json is not Docker's");
    const empty = await loadFails(await archiveOf([['README', 'nothing here']]));
    expect(empty.message).toContain('neither manifest.json nor index.json');
  });
});
