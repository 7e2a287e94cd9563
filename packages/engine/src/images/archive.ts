/**
 * Image archives, as `docker save` writes them and `docker load` reads them.
 *
 * Written: the OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…` holding the blobs exactly as
 * stored, so every digest stays the registry's) plus Docker's own `manifest.json`, whose `Layers` point at
 * those blobs. That is what Docker 25 and later write; dockerd before that reads the `manifest.json` part and
 * decompresses the layers itself, so either loads it.
 *
 * Read (plain or gzipped): `manifest.json` when the archive has one (both that form and the older one dockerd 20.10 writes, with
 * `<id>/layer.tar` plain tars and symlinks between shared layers), else a plain OCI layout's `index.json`.
 * An archive is untrusted: it is spooled to numbered files (no name of it ever becomes a path), its names may
 * not climb out of it, links resolve only inside it, and every blob is then verified by the content store as
 * a pull's would be.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { z } from 'zod';
import { EngineError } from '../errors';
import {
  type Descriptor,
  indexSchema,
  manifestSchema,
  maxConfigBytes,
  maxManifestBytes,
  mediaTypes,
  refNameAnnotation,
} from './oci';

/** containerd's and Docker's annotation for the full image name of an index entry. */
const imageNameAnnotation = 'io.containerd.image.name';
const maxEntries = 100_000;
const maxLinkHops = 16;

export interface ArchiveImage {
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  /** As Docker shows them (`busybox:latest`), for manifest.json. */
  repoTags: string[];
  /** Canonical (`docker.io/library/busybox:latest`), with the tag alone, for index.json. */
  names: Array<{ name: string; tag: string }>;
}

/** One `docker save` archive of `images`, streamed; `openBlob` reads a stored blob. */
export function packImageArchive(images: ArchiveImage[], openBlob: (digest: string) => Readable): Readable {
  const pack = tar.pack();
  const mtime = new Date(0);
  const entry = (name: string, size: number, body: Buffer | Readable) =>
    new Promise<void>((resolve, reject) => {
      const sink = pack.entry({ name, size, mode: 0o644, mtime }, (error) =>
        error ? reject(error) : resolve(),
      );
      if (Buffer.isBuffer(body)) sink.end(body);
      else body.on('error', reject).pipe(sink);
    });
  const json = (name: string, value: unknown) => {
    const bytes = Buffer.from(JSON.stringify(value));
    return entry(name, bytes.length, bytes);
  };
  (async () => {
    await json('oci-layout', { imageLayoutVersion: '1.0.0' });
    const written = new Set<string>();
    for (const image of images)
      for (const blob of [image.manifest, image.config, ...image.layers]) {
        if (written.has(blob.digest)) continue;
        written.add(blob.digest);
        await entry(blobPath(blob.digest), blob.size, openBlob(blob.digest));
      }
    const manifests: Descriptor[] = [];
    for (const image of images) {
      const base = {
        mediaType: image.manifest.mediaType,
        digest: image.manifest.digest,
        size: image.manifest.size,
      };
      if (image.names.length === 0) manifests.push(base);
      for (const { name, tag } of image.names)
        manifests.push({ ...base, annotations: { [imageNameAnnotation]: name, [refNameAnnotation]: tag } });
    }
    await json('index.json', { schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests });
    await json(
      'manifest.json',
      images.map((image) => ({
        Config: blobPath(image.config.digest),
        RepoTags: image.repoTags,
        Layers: image.layers.map((layer) => blobPath(layer.digest)),
      })),
    );
    pack.finalize();
  })().catch((error: unknown) => pack.destroy(error as Error));
  // tar-stream's pack is a streamx stream; callers get a Node one (an error or a destroy travels either way).
  const out = new PassThrough();
  pipeline(pack, out).catch(() => {});
  return out;
}

function blobPath(digest: string): string {
  return `blobs/sha256/${digest.slice('sha256:'.length)}`;
}

/** What `docker load` found in an archive: one image to import per entry. */
export interface ArchivedImage {
  manifest: Descriptor;
  manifestBytes: Buffer;
  /** References as the archive names them (`busybox:latest`, `docker.io/library/busybox:latest`). */
  tags: string[];
  /** Reads one of this image's blobs from the spooled archive. */
  open(descriptor: Descriptor): Readable;
}

interface SpooledFile {
  path: string;
  size: number;
}

/** An archive's files, spooled under a directory of the caller's (removed by the caller). */
export class SpooledArchive {
  readonly #files = new Map<string, SpooledFile>();
  readonly #links = new Map<string, string>();

  private constructor(readonly dir: string) {}

  static async spool(source: Readable, dir: string): Promise<SpooledArchive> {
    const archive = new SpooledArchive(dir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const extract = tar.extract();
    const reading = pipeline(await gunzipped(source), extract);
    reading.catch(() => {}); // surfaced through the iterator below and awaited at the end
    let count = 0;
    try {
      for await (const item of extract) {
        if (++count > maxEntries) throw invalid(`it has more than ${maxEntries} entries`);
        const { header } = item;
        const name = entryName(header.name);
        if (header.type === 'file' || header.type === 'contiguous-file') {
          const path = join(dir, String(count));
          await pipeline(item, createWriteStream(path, { mode: 0o600 }));
          archive.#files.set(name, { path, size: header.size ?? 0 });
          continue;
        }
        if (header.type === 'symlink' || header.type === 'link') {
          // A symlink is relative to its own directory, a hard link names a path from the archive's root.
          const link = header.linkname ?? '';
          const target =
            header.type === 'symlink' && !link.startsWith('/') ? posix.join(posix.dirname(name), link) : link;
          archive.#links.set(name, entryName(target));
        }
        item.resume(); // directories and anything else carry nothing an image needs
      }
      await reading;
    } catch (error) {
      if (EngineError.is(error)) throw error;
      throw invalid(`it is not a tar archive (${(error as Error).message})`);
    }
    return archive;
  }

  /** The spooled file a name leads to, through links inside the archive. */
  file(name: string): SpooledFile {
    let current = entryName(name);
    for (let hop = 0; hop <= maxLinkHops; hop++) {
      const file = this.#files.get(current);
      if (file) return file;
      const next = this.#links.get(current);
      if (next === undefined) break;
      current = next;
    }
    throw invalid(`it names ${name}, which it does not hold`);
  }

  has(name: string): boolean {
    try {
      this.file(name);
      return true;
    } catch {
      return false;
    }
  }

  async bytes(name: string, limit: number): Promise<Buffer> {
    const file = this.file(name);
    if (file.size > limit) throw invalid(`${name} is ${file.size} bytes, over ${limit}`);
    const handle = await open(file.path, 'r');
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  open(name: string): Readable {
    return createReadStream(this.file(name).path, { highWaterMark: 1024 * 1024 });
  }

  /** The images inside: from manifest.json when present (as dockerd does), else from index.json. */
  async images(): Promise<ArchivedImage[]> {
    if (this.has('manifest.json')) return this.#fromDockerManifest();
    if (this.has('index.json')) return this.#fromIndex();
    throw invalid('it holds neither manifest.json nor index.json');
  }

  async #fromDockerManifest(): Promise<ArchivedImage[]> {
    const parsed = dockerManifestSchema.safeParse(
      parseJson(await this.bytes('manifest.json', maxManifestBytes), 'manifest.json'),
    );
    if (!parsed.success)
      throw invalid(`its manifest.json is not Docker's: ${parsed.error.issues[0]?.message}`);
    const images: ArchivedImage[] = [];
    for (const entry of parsed.data) {
      // The blobs' digests are what they hash to here; the content store checks them again on import.
      const byDigest = new Map<string, string>();
      const configBytes = await this.bytes(entry.Config, maxConfigBytes);
      const config: Descriptor = {
        mediaType: mediaTypes.ociConfig,
        digest: sha256(configBytes),
        size: configBytes.length,
      };
      byDigest.set(config.digest, entry.Config);
      const layers: Descriptor[] = [];
      for (const name of entry.Layers) {
        const { digest, size, head } = await this.#hash(name);
        byDigest.set(digest, name);
        layers.push({ mediaType: layerMediaType(head), digest, size });
      }
      const manifestBytes = Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config, layers }),
      );
      images.push({
        manifest: {
          mediaType: mediaTypes.ociManifest,
          digest: sha256(manifestBytes),
          size: manifestBytes.length,
        },
        manifestBytes,
        tags: entry.RepoTags ?? [],
        open: (descriptor) => {
          if (descriptor.digest === config.digest) return Readable.from([configBytes]);
          const name = byDigest.get(descriptor.digest);
          if (!name) throw invalid(`it has no blob ${descriptor.digest}`);
          return this.open(name);
        },
      });
    }
    return images;
  }

  async #fromIndex(): Promise<ArchivedImage[]> {
    const parsed = indexSchema.safeParse(
      parseJson(await this.bytes('index.json', maxManifestBytes), 'index.json'),
    );
    if (!parsed.success)
      throw invalid(`its index.json is not an OCI index: ${parsed.error.issues[0]?.message}`);
    const byDigest = new Map<string, ArchivedImage>();
    for (const descriptor of parsed.data.manifests) {
      if (descriptor.mediaType === mediaTypes.ociIndex || descriptor.mediaType === mediaTypes.dockerList)
        throw invalid('it holds a multi-platform index; load one platform’s image');
      // ref.name alone is often just a tag (`latest`, as skopeo writes it): a name only when it looks like one.
      const refName = descriptor.annotations?.[refNameAnnotation];
      const name =
        descriptor.annotations?.[imageNameAnnotation] ??
        (refName && /[:/]/.test(refName) ? refName : undefined);
      const known = byDigest.get(descriptor.digest);
      if (known) {
        if (name) known.tags.push(name);
        continue;
      }
      const manifestBytes = await this.bytes(blobPath(descriptor.digest), maxManifestBytes);
      const image: ArchivedImage = {
        manifest: { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size },
        manifestBytes,
        tags: name ? [name] : [],
        open: (blob) => this.open(blobPath(blob.digest)),
      };
      // The manifest must at least parse here; its digest and blobs are checked by the import.
      if (!manifestSchema.safeParse(parseJson(manifestBytes, descriptor.digest)).success)
        throw invalid(`its manifest ${descriptor.digest} is not an image manifest`);
      byDigest.set(descriptor.digest, image);
    }
    return [...byDigest.values()];
  }

  async #hash(name: string): Promise<{ digest: string; size: number; head: Buffer }> {
    const hash = createHash('sha256');
    let size = 0;
    let head = Buffer.alloc(0);
    for await (const chunk of this.open(name) as AsyncIterable<Buffer>) {
      if (head.length < 4) head = Buffer.concat([head, chunk.subarray(0, 4 - head.length)]);
      hash.update(chunk);
      size += chunk.length;
    }
    return { digest: `sha256:${hash.digest('hex')}`, size, head };
  }
}

const dockerManifestSchema = z
  .array(
    z.object({
      Config: z.string().min(1),
      RepoTags: z.array(z.string()).nullish(),
      Layers: z.array(z.string().min(1)),
    }),
  )
  .min(1, 'it lists no image');

/** The archive itself, or what it gunzips to: `docker save | gzip` archives load as they do with dockerd. */
async function gunzipped(source: Readable): Promise<Readable> {
  const iterator = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const first = await iterator.next();
  const head: Buffer = first.done ? Buffer.alloc(0) : first.value;
  const replay = Readable.from(
    (async function* () {
      if (head.length) yield head;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    })(),
    { objectMode: false },
  );
  if (!(head[0] === 0x1f && head[1] === 0x8b)) return replay;
  const gunzip = createGunzip();
  pipeline(replay, gunzip).catch((error: unknown) => gunzip.destroy(error as Error));
  return gunzip;
}

/** A tar entry's name as a clean relative path; one that climbs out of the archive is refused. */
function entryName(raw: string): string {
  const normal = posix.normalize(raw.replace(/^\/+/, '')).replace(/\/+$/, '');
  if (normal === '..' || normal.startsWith('../'))
    throw invalid(`its entry ${JSON.stringify(raw)} points outside the archive`);
  return normal === '.' ? '' : normal;
}

/** Layers in a Docker archive are plain tars (dockerd ≤ 24) or the registry's compressed blobs (later). */
function layerMediaType(head: Buffer): string {
  if (head[0] === 0x1f && head[1] === 0x8b) return mediaTypes.ociLayerGzip;
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return mediaTypes.ociLayerZstd;
  return mediaTypes.ociLayer;
}

function parseJson(bytes: Buffer, name: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw invalid(`its ${name} is not JSON`);
  }
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function invalid(why: string): EngineError {
  return new EngineError('invalid_argument', `invalid image archive: ${why}`);
}
