import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { z } from 'zod';
import { commitLayer } from '../build/layer';
import { EngineError } from '../errors';
import type { EventBus } from '../events';
import { type ArchiveImage, packImageArchive, SpooledArchive } from './archive';
import { ContentStore, exists, writeFileAtomic } from './content';
import {
  type Descriptor,
  descriptorSchema,
  type ImageConfig,
  imageConfigSchema,
  indexSchema,
  isIndexMediaType,
  isManifestMediaType,
  type Manifest,
  manifestAccept,
  manifestSchema,
  maxConfigBytes,
  maxManifestBytes,
  mediaTypes,
  type Platform,
  refNameAnnotation,
} from './oci';
import {
  familiarName,
  familiarString,
  formatReference,
  type ImageReference,
  parseReference,
  repositoryName,
} from './reference';
import { RegistryClient, type RegistryClientOptions, type RegistryCredentials } from './registry';
import type {
  CommitInput,
  ImageHistoryItem,
  ImageInspect,
  ImageService,
  ImageSummary,
  ImageUsage,
  LoadedImage,
  PullOptions,
  PullProgress,
  PushOptions,
  RemoveOptions,
  RemoveResult,
  ResolvedImage,
} from './types';
import { layerDiffId, unpackLayer } from './unpack';

const historySchema = z.array(
  z
    .object({
      created: z.string().optional(),
      created_by: z.string().optional(),
      comment: z.string().optional(),
      empty_layer: z.boolean().optional(),
    })
    .passthrough(),
);

/** The persisted Docker view of one image; the image ID is its config digest, as in Docker. */
const imageRecordSchema = z.object({
  id: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  manifest: descriptorSchema, // the single-platform manifest, as stored in content/
  index: descriptorSchema.optional(), // the index/list it was chosen from, when pulled through one
  repoTags: z.array(z.string()), // canonical: docker.io/library/busybox:latest
  repoDigests: z.array(z.string()), // canonical: docker.io/library/busybox@sha256:… (what the registry served)
  chainIds: z.array(z.string().regex(/^sha256:[0-9a-f]{64}$/)),
  size: z.number(), // uncompressed bytes of all layers
  lastTagTime: z.string(),
});
type ImageRecord = z.infer<typeof imageRecordSchema>;

export interface ImageStoreOptions {
  dataRoot: string;
  events: EventBus;
  /** Registries spoken to over plain HTTP besides loopback ones. */
  insecureRegistries?: string[];
  /** Default credentials per registry domain, used when a call brings none. */
  credentials?: Record<string, RegistryCredentials>;
  registryOptions?: Pick<RegistryClientOptions, 'retries' | 'backoff'>;
  /** Layers downloaded at once, like dockerd's max-concurrent-downloads. */
  concurrency?: number;
  /** Upload blobs bigger than this in PATCH chunks of this size (for registries that cap request bodies). */
  pushChunkSize?: number;
}

/** What a new image's blobs come from: a registry during pull, or local builders and archives. */
export interface BlobSource {
  /** `signal` aborts when a sibling layer failed and this download is no longer wanted. */
  open(descriptor: Descriptor, signal?: AbortSignal): Promise<Readable>;
}

const shortId = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);
const hexOf = (digest: string) => digest.replace(/^sha256:/, '');
const sha256 = (data: string | Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
/** Layer media types of plain tars: what the builder stores, compressed on the way to a registry. */
const uncompressedLayerTypes = new Set<string>([
  mediaTypes.ociLayer,
  'application/vnd.docker.image.rootfs.diff.tar',
]);
/** What a plain-tar layer was gzipped to at its first push. */
const compressedSchema = z.object({
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
});

export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? diffId : sha256(`${prev} ${diffId}`));
  }
  return out;
}

export function parsePlatform(value: Partial<Platform> | string | undefined): Platform {
  if (value === undefined || value === '') return { os: 'linux', architecture: 'amd64' };
  if (typeof value !== 'string')
    return {
      os: value.os ?? 'linux',
      architecture: value.architecture ?? 'amd64',
      ...(value.variant ? { variant: value.variant } : {}),
    };
  const [os, architecture, variant] = value.split('/');
  if (!os || !architecture)
    throw new EngineError('invalid_argument', `invalid platform "${value}": want os/arch[/variant]`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

function platformMatches(want: Platform, have: Platform | undefined): boolean {
  if (!have || have.os !== want.os || have.architecture !== want.architecture) return false;
  if (!want.variant) return true;
  const variant = have.variant ?? (have.architecture === 'arm64' ? 'v8' : undefined);
  return variant === want.variant;
}

class Limiter {
  #active = 0;
  readonly #queue: (() => void)[] = [];
  constructor(readonly limit: number) {}
  async run<T>(task: () => Promise<T>, onWait?: () => void): Promise<T> {
    if (this.#active >= this.limit) {
      onWait?.();
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    }
    this.#active++;
    try {
      return await task();
    } finally {
      this.#active--;
      this.#queue.shift()?.();
    }
  }
}

class Mutex {
  #tail: Promise<void> = Promise.resolve();
  async run<T>(task: () => Promise<T>): Promise<T> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return await task();
    } finally {
      release();
    }
  }
}

/**
 * The engine's images: content in OCI layout, one unpacked snapshot per chain ID, and Docker's records
 * (tags, repo digests, image ID = config digest) on top.
 */
export class ImageStore implements ImageService {
  readonly content: ContentStore;
  readonly #dataRoot: string;
  readonly #recordsDir: string;
  readonly #snapshotsDir: string;
  readonly #events: EventBus;
  readonly #options: ImageStoreOptions;
  readonly #records = new Map<string, ImageRecord>();
  readonly #configs = new Map<string, ImageConfig>();
  readonly #unpacking = new Map<string, Promise<void>>();
  readonly #pinned = new Map<string, number>(); // digests and chain IDs an in-flight pull relies on
  readonly #lock = new Mutex();
  #usage: ImageUsage = () => [];

  private constructor(options: ImageStoreOptions) {
    this.#options = options;
    this.#dataRoot = options.dataRoot;
    this.content = new ContentStore(join(options.dataRoot, 'content'));
    this.#recordsDir = join(options.dataRoot, 'images');
    this.#snapshotsDir = join(options.dataRoot, 'snapshots');
    this.#events = options.events;
  }

  static async open(options: ImageStoreOptions): Promise<ImageStore> {
    const store = new ImageStore(options);
    await store.#init();
    return store;
  }

  async #init(): Promise<void> {
    await this.content.init();
    await mkdir(this.#recordsDir, { recursive: true });
    await mkdir(this.#snapshotsDir, { recursive: true });
    for (const name of await readdir(this.#snapshotsDir)) {
      if (name.startsWith('.tmp-'))
        await rm(join(this.#snapshotsDir, name), { recursive: true, force: true });
    }
    let damaged = false;
    for (const name of await readdir(this.#recordsDir)) {
      if (!/^[0-9a-f]{64}\.json$/.test(name)) continue;
      let parsed: ReturnType<typeof imageRecordSchema.safeParse> | undefined;
      try {
        parsed = imageRecordSchema.safeParse(
          JSON.parse(await readFile(join(this.#recordsDir, name), 'utf8')),
        );
      } catch {
        parsed = undefined; // records are written atomically, so only a hand edit gets here
      }
      // A damaged record costs its own image rather than the whole engine.
      if (parsed?.success) this.#records.set(parsed.data.id, parsed.data);
      else damaged = true;
    }
    // A process that died between committing content and writing the record leaves orphans; nothing is in
    // flight yet, so whatever no record references can go. Not when a record was damaged: its snapshots may
    // still be lowerdirs of containers, and nothing here can tell.
    if (damaged) return;
    const chains = (await readdir(this.#snapshotsDir))
      .filter((n) => /^[0-9a-f]{64}$/.test(n))
      .map((n) => `sha256:${n}`);
    await this.#collect(await this.content.list(), chains, 0);
  }

  setUsage(usage: ImageUsage): void {
    this.#usage = usage;
  }

  snapshotDir(chainId: string): string {
    return join(this.#snapshotsDir, hexOf(chainId));
  }

  // ---------------------------------------------------------------- pull

  async pull(reference: string, options: PullOptions = {}): Promise<ImageInspect> {
    const ref = parseReference(reference);
    const display = familiarString(ref);
    const progress = options.onProgress ?? (() => {});
    try {
      const client = this.#client(ref.domain, options.credentials);
      const repo = ref.path;
      progress({ status: `Pulling from ${familiarName(ref)}`, id: ref.digest ?? ref.tag ?? 'latest' });
      const wanted = parsePlatform(options.platform);
      const top = await client.getManifest(
        repo,
        ref.digest ?? ref.tag ?? 'latest',
        manifestAccept,
        maxManifestBytes,
        options.signal,
      );
      if (ref.digest && top.digest !== ref.digest)
        throw new EngineError('digest_mismatch', `manifest hashed to ${top.digest}, expected ${ref.digest}`);
      let manifestBytes = top.bytes;
      let manifestDescriptor: Descriptor = {
        mediaType: top.mediaType,
        digest: top.digest,
        size: top.bytes.length,
      };
      let index: { descriptor: Descriptor; bytes: Buffer } | undefined;
      const topParsed = JSON.parse(top.bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown };
      const topType = top.mediaType || topParsed.mediaType;
      if (
        isIndexMediaType(topType) ||
        (!isManifestMediaType(topType) && Array.isArray(topParsed.manifests))
      ) {
        const parsedIndex = indexSchema.safeParse(topParsed);
        if (!parsedIndex.success)
          throw new EngineError('failed', `invalid image index: ${parsedIndex.error.message}`);
        const choice = parsedIndex.data.manifests.find((m) => platformMatches(wanted, m.platform));
        if (!choice)
          throw new EngineError(
            'not_found',
            `no matching manifest for ${wanted.os}/${wanted.architecture}${wanted.variant ? `/${wanted.variant}` : ''} in the manifest list entries`,
          );
        index = {
          descriptor: {
            mediaType: topType ?? mediaTypes.ociIndex,
            digest: top.digest,
            size: top.bytes.length,
          },
          bytes: top.bytes,
        };
        const chosen = await client.getManifest(
          repo,
          choice.digest,
          manifestAccept,
          maxManifestBytes,
          options.signal,
        );
        if (chosen.digest !== choice.digest)
          throw new EngineError(
            'digest_mismatch',
            `manifest hashed to ${chosen.digest}, expected ${choice.digest}`,
          );
        manifestBytes = chosen.bytes;
        manifestDescriptor = {
          mediaType: chosen.mediaType || choice.mediaType,
          digest: chosen.digest,
          size: chosen.bytes.length,
        };
      }
      const source: BlobSource = {
        open: async (descriptor, signal) =>
          client.getBlob(
            repo,
            descriptor.digest,
            signal && options.signal ? AbortSignal.any([signal, options.signal]) : (signal ?? options.signal),
          ),
      };
      const id = await this.importImage({
        manifest: manifestDescriptor,
        manifestBytes,
        index,
        source,
        tag: ref.digest
          ? undefined
          : formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag ?? 'latest' }),
        repoDigest: `${repositoryName(ref)}@${top.digest}`,
        onProgress: progress,
        signal: options.signal,
        alreadyHad: (had) => {
          progress({ status: `Digest: ${top.digest}` });
          progress({
            status: had
              ? `Status: Image is up to date for ${display}`
              : `Status: Downloaded newer image for ${display}`,
          });
        },
      });
      this.#events.emit('image', 'pull', familiarString(ref), { name: familiarName(ref) });
      return this.#inspect(id);
    } catch (error) {
      if (EngineError.is(error))
        throw new EngineError(error.code, `pull ${display}: ${error.message}`, { cause: error });
      if ((error as Error).name === 'AbortError')
        throw new EngineError('failed', `pull ${display}: aborted`, { cause: error });
      throw new EngineError('internal', `pull ${display}: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * Brings one image's blobs into content/ and its layers into snapshots/, then records it. Used by pull and
   * by local imports (test fixtures, `docker load`). Returns the image ID.
   */
  async importImage(input: {
    manifest: Descriptor;
    manifestBytes: Buffer;
    index?: { descriptor: Descriptor; bytes: Buffer };
    source: BlobSource;
    tag?: string; // canonical reference
    repoDigest?: string;
    onProgress?: (progress: PullProgress) => void;
    alreadyHad?: (had: boolean) => void;
    signal?: AbortSignal;
  }): Promise<string> {
    const progress = input.onProgress ?? (() => {});
    if (sha256(input.manifestBytes) !== input.manifest.digest)
      throw new EngineError(
        'digest_mismatch',
        `manifest hashed to ${sha256(input.manifestBytes)}, expected ${input.manifest.digest}`,
      );
    const parsed = manifestSchema.safeParse(JSON.parse(input.manifestBytes.toString('utf8')));
    if (!parsed.success) throw new EngineError('failed', `invalid image manifest: ${parsed.error.message}`);
    const manifest: Manifest = parsed.data;
    if (manifest.config.size > maxConfigBytes)
      throw new EngineError(
        'too_large',
        `image config is ${manifest.config.size} bytes, over ${maxConfigBytes}`,
      );
    const id = manifest.config.digest;
    const pins = [id, input.manifest.digest, ...manifest.layers.map((l) => l.digest)];
    this.#pin(pins, 1);
    let chains: string[] = [];
    try {
      await this.#fetchBlob(input.source, manifest.config);
      const config = await this.#config(id);
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== manifest.layers.length)
        throw new EngineError(
          'failed',
          `manifest has ${manifest.layers.length} layers but config lists ${diffIds.length} diff IDs`,
        );
      chains = chainIds(diffIds);
      this.#pin(chains, 1);
      const had = this.#records.has(id);
      const limiter = new Limiter(this.#options.concurrency ?? 3);
      const layerJobs = manifest.layers.map((layer, i) => ({
        layer,
        diffId: diffIds[i] as string,
        chainId: chains[i] as string,
      }));
      const pending: typeof layerJobs = [];
      for (const job of layerJobs) {
        if ((await exists(this.snapshotDir(job.chainId))) && (await this.content.has(job.layer.digest)))
          progress({ status: 'Already exists', id: shortId(job.layer.digest) });
        else {
          progress({ status: 'Pulling fs layer', id: shortId(job.layer.digest) });
          pending.push(job);
        }
      }
      const failures: unknown[] = [];
      const controller = new AbortController();
      await Promise.all(
        pending.map((job) =>
          limiter
            .run(
              () => this.#fetchBlob(input.source, job.layer, progress, controller.signal),
              () => progress({ status: 'Waiting', id: shortId(job.layer.digest) }),
            )
            .then(() => this.#unpack(job.layer, job.diffId, job.chainId, progress))
            .catch((error) => {
              failures.push(error);
              controller.abort();
            }),
        ),
      );
      const firstFailure =
        failures.find((f) => !(f instanceof Error && f.name === 'AbortError')) ?? failures[0];
      if (firstFailure) throw firstFailure;
      await this.content.writeBytes(input.manifest, input.manifestBytes);
      if (input.index) await this.content.writeBytes(input.index.descriptor, input.index.bytes);
      await this.#lock.run(async () => {
        const size = await this.#snapshotsSize(chains);
        const record: ImageRecord = this.#records.get(id) ?? {
          id,
          manifest: input.manifest,
          repoTags: [],
          repoDigests: [],
          chainIds: chains,
          size,
          lastTagTime: new Date().toISOString(),
        };
        record.manifest = input.manifest;
        if (input.index) record.index = input.index.descriptor;
        if (input.repoDigest) {
          const repo = input.repoDigest.slice(0, input.repoDigest.indexOf('@'));
          record.repoDigests = [
            ...record.repoDigests.filter((d) => !d.startsWith(`${repo}@`)),
            input.repoDigest,
          ];
        }
        if (input.tag) await this.#moveTag(input.tag, record);
        this.#records.set(id, record);
        await this.#saveRecord(record);
        await this.#writeIndex();
      });
      input.alreadyHad?.(had);
      return id;
    } catch (error) {
      // Leave nothing this pull brought in that no image owns; our own pins are the only ones allowed.
      await this.#lock.run(() => this.#collect(pins, chains, 1)).catch(() => undefined);
      throw error;
    } finally {
      this.#pin(pins, -1);
      this.#pin(chains, -1);
    }
  }

  // ---------------------------------------------------------------- commit

  /**
   * `docker commit`: a new image of `parent` plus one layer made of a container's upper directory (overlay's
   * own format: whiteouts and opaque directories become the OCI layer's), with the container's config as the
   * image's. Returns the new image's ID.
   */
  async commit(input: CommitInput): Promise<string> {
    const parent = this.#resolve(input.parent);
    const parentConfig = await this.#config(parent.id);
    const parentManifest = manifestSchema.parse(
      JSON.parse((await this.content.readBytes(parent.manifest.digest)).toString('utf8')),
    );
    const layer = await commitLayer(input.upperDir, this.content);
    const created = new Date().toISOString();
    // The parent's own comment and history entries stay in its history; the new image's comment is this one's.
    const { rootfs, history, comment: _parentComment, ...rest } = parentConfig;
    const config = {
      ...rest,
      created,
      ...(input.author ? { author: input.author } : {}),
      ...(input.comment ? { comment: input.comment } : {}),
      config: input.config,
      rootfs: { type: 'layers' as const, diff_ids: [...rootfs.diff_ids, layer.diffId] },
      history: [
        ...(history ?? []),
        {
          created,
          created_by: input.createdBy,
          ...(input.author ? { author: input.author } : {}),
          ...(input.comment ? { comment: input.comment } : {}),
        },
      ],
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDescriptor: Descriptor = {
      mediaType: mediaTypes.ociConfig,
      digest: sha256(configBytes),
      size: configBytes.length,
    };
    await this.content.writeBytes(configDescriptor, configBytes);
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: mediaTypes.ociManifest,
        config: configDescriptor,
        layers: [...parentManifest.layers, layer.descriptor],
      }),
    );
    const id = await this.importImage({
      manifest: {
        mediaType: mediaTypes.ociManifest,
        digest: sha256(manifestBytes),
        size: manifestBytes.length,
      },
      manifestBytes,
      source: { open: async (descriptor) => this.content.read(descriptor.digest) },
      ...(input.tag ? { tag: canonicalTag(input.tag) } : {}),
    });
    return id;
  }

  /**
   * `docker import`: a root filesystem tarball (plain, gzip or zstd) as a one-layer image for this host's
   * platform, with an empty config and `message` as its history's comment. Returns the image's ID.
   */
  async importRootfs(source: Readable, options: { tag?: string; message?: string } = {}): Promise<string> {
    const tag = options.tag ? canonicalTag(options.tag) : undefined;
    const spool = join(this.content.root, 'ingest', `import-${randomBytes(6).toString('hex')}`);
    try {
      const hash = createHash('sha256');
      let size = 0;
      let head = Buffer.alloc(0);
      await pipeline(
        source,
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            if (head.length < 4) head = Buffer.concat([head, chunk.subarray(0, 4 - head.length)]);
            hash.update(chunk);
            size += chunk.length;
            callback(null, chunk);
          },
        }),
        createWriteStream(spool, { mode: 0o600 }),
      );
      const mediaType =
        head[0] === 0x1f && head[1] === 0x8b
          ? mediaTypes.ociLayerGzip
          : head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528
            ? mediaTypes.ociLayerZstd
            : mediaTypes.ociLayer;
      const layer: Descriptor = { mediaType, digest: `sha256:${hash.digest('hex')}`, size };
      const diffId = await layerDiffId(createReadStream(spool), mediaType);
      const created = new Date().toISOString();
      const configBytes = Buffer.from(
        JSON.stringify({
          architecture: parsePlatform(undefined).architecture,
          os: 'linux',
          created,
          ...(options.message ? { comment: options.message } : {}),
          config: {},
          rootfs: { type: 'layers', diff_ids: [diffId] },
          history: [{ created, created_by: '', ...(options.message ? { comment: options.message } : {}) }],
        }),
      );
      const config: Descriptor = {
        mediaType: mediaTypes.ociConfig,
        digest: sha256(configBytes),
        size: configBytes.length,
      };
      const manifestBytes = Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config, layers: [layer] }),
      );
      return await this.importImage({
        manifest: {
          mediaType: mediaTypes.ociManifest,
          digest: sha256(manifestBytes),
          size: manifestBytes.length,
        },
        manifestBytes,
        source: {
          open: async (descriptor) =>
            descriptor.digest === config.digest ? Readable.from([configBytes]) : createReadStream(spool),
        },
        ...(tag ? { tag } : {}),
      });
    } catch (error) {
      if (EngineError.is(error)) throw error;
      throw new EngineError('invalid_argument', `import: ${(error as Error).message}`, { cause: error });
    } finally {
      await rm(spool, { force: true });
    }
  }

  // ---------------------------------------------------------------- archives

  /**
   * `docker save`: the images as one tar stream (see archive.ts). A reference with a tag saves that tag, an ID
   * the image without tags, and a bare repository name every tag of it, as dockerd does.
   */
  async save(refs: string[]): Promise<Readable> {
    if (refs.length === 0) throw new EngineError('invalid_argument', 'no image to save');
    const chosen = new Map<string, { record: ImageRecord; tags: Set<string> }>();
    const choose = (record: ImageRecord, tags: string[]) => {
      const entry = chosen.get(record.id) ?? { record, tags: new Set<string>() };
      for (const tag of tags) entry.tags.add(tag);
      chosen.set(record.id, entry);
    };
    for (const input of refs) {
      const repository = bareRepository(input);
      if (repository) {
        const records = [...this.#records.values()].filter((r) =>
          r.repoTags.some((t) => t.startsWith(`${repository}:`)),
        );
        if (records.length === 0) throw new EngineError('not_found', `No such image: ${input}`);
        for (const record of records)
          choose(
            record,
            record.repoTags.filter((t) => t.startsWith(`${repository}:`)),
          );
        continue;
      }
      const record = this.#resolve(input);
      const ref = (() => {
        try {
          return parseReference(input);
        } catch {
          return undefined;
        }
      })();
      const tag = ref?.tag
        ? formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag })
        : undefined;
      choose(record, tag && record.repoTags.includes(tag) ? [tag] : []);
    }
    const images: ArchiveImage[] = [];
    const pins: string[] = [];
    for (const { record, tags } of chosen.values()) {
      const manifest = manifestSchema.parse(
        JSON.parse((await this.content.readBytes(record.manifest.digest)).toString('utf8')),
      );
      pins.push(record.manifest.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest));
      images.push({
        manifest: record.manifest,
        config: manifest.config,
        layers: manifest.layers,
        repoTags: [...tags].map(displayRef),
        names: [...tags].map((t) => ({ name: t, tag: parseReference(t).tag ?? 'latest' })),
      });
    }
    // The blobs stay while the archive is read, whatever an `rmi` meanwhile does to the records.
    this.#pin(pins, 1);
    const archive = packImageArchive(images, (digest) => this.content.read(digest));
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#pin(pins, -1);
    };
    archive.once('close', release).once('end', release).once('error', release);
    for (const { record } of chosen.values())
      this.#events.emit('image', 'save', record.id, { name: record.id });
    return archive;
  }

  /**
   * `docker load`: imports every image of a `docker save` archive (or an OCI layout tar) and tags it as the
   * archive says. Each image is brought in as a pull's is, so a blob that does not match its digest, or a layer
   * its config does not name, fails the load and leaves nothing of that image behind.
   */
  async load(archive: Readable, options: { signal?: AbortSignal } = {}): Promise<LoadedImage[]> {
    const dir = join(this.content.root, 'ingest', `load-${randomBytes(6).toString('hex')}`);
    try {
      const spooled = await SpooledArchive.spool(archive, dir);
      const images = await spooled.images();
      // Every name is checked before anything is imported.
      const named = images.map((image) => ({ image, tags: image.tags.map(canonicalTag) }));
      const loaded: LoadedImage[] = [];
      for (const { image, tags } of named) {
        const id = await this.importImage({
          manifest: image.manifest,
          manifestBytes: image.manifestBytes,
          source: { open: async (descriptor) => image.open(descriptor) },
          ...(tags[0] ? { tag: tags[0] } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        });
        for (const tag of tags.slice(1)) await this.tag(id, tag);
        this.#events.emit('image', 'load', id, { name: id });
        if (tags.length === 0) loaded.push({ id });
        for (const tag of tags) loaded.push({ id, tag: displayRef(tag) });
      }
      return loaded;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async #fetchBlob(
    source: BlobSource,
    descriptor: Descriptor,
    progress?: (p: PullProgress) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const id = shortId(descriptor.digest);
    let lastReport = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.content.write(
          descriptor,
          () => {
            if (signal?.aborted) throw signal.reason;
            return source.open(descriptor, signal);
          },
          progress
            ? (done) => {
                const now = Date.now();
                if (now - lastReport < 100 && done !== descriptor.size) return;
                lastReport = now;
                progress({
                  status: 'Downloading',
                  id,
                  progressDetail: { current: done, total: descriptor.size },
                });
              }
            : undefined,
        );
        if (progress) {
          progress({ status: 'Verifying Checksum', id });
          progress({ status: 'Download complete', id });
        }
        return;
      } catch (error) {
        if (signal?.aborted) throw error;
        const retryable = !EngineError.is(error) || error.code === 'unavailable';
        if (!retryable || attempt >= 2) {
          if (EngineError.is(error)) throw error;
          throw new EngineError(
            'unavailable',
            `download of ${descriptor.digest} failed: ${(error as Error).message}`,
            { cause: error },
          );
        }
        progress?.({ status: `Retrying in ${attempt + 1} second${attempt ? 's' : ''}`, id });
        await new Promise((resolve) =>
          setTimeout(
            resolve,
            (this.#options.registryOptions?.backoff ?? ((n: number) => 250 * 2 ** n))(attempt),
          ),
        );
      }
    }
  }

  async #unpack(
    layer: Descriptor,
    diffId: string,
    chainId: string,
    progress: (p: PullProgress) => void,
  ): Promise<void> {
    const target = this.snapshotDir(chainId);
    const running = this.#unpacking.get(chainId);
    if (running) return running;
    const job = (async () => {
      const id = shortId(layer.digest);
      if (await exists(target)) {
        // The snapshot came from another blob with this diff ID; this new blob must decompress to it as well,
        // or the content store would keep (and push, and save) a layer other than the one the image runs.
        const actual = await layerDiffId(this.content.read(layer.digest), layer.mediaType);
        if (actual !== diffId)
          throw new EngineError(
            'digest_mismatch',
            `layer ${layer.digest} decompresses to ${actual}, config says ${diffId}`,
          );
        progress({ status: 'Pull complete', id });
        return;
      }
      const tmp = join(
        this.#snapshotsDir,
        `.tmp-${hexOf(chainId).slice(0, 16)}-${randomBytes(4).toString('hex')}`,
      );
      await mkdir(tmp, { mode: 0o755 });
      try {
        const stream = this.content.read(layer.digest);
        let read = 0;
        let lastReport = 0;
        stream.on('data', (chunk: string | Buffer) => {
          read += chunk.length;
          const now = Date.now();
          if (now - lastReport >= 100 || read === layer.size) {
            lastReport = now;
            progress({ status: 'Extracting', id, progressDetail: { current: read, total: layer.size } });
          }
        });
        const result = await unpackLayer(stream, layer.mediaType, tmp);
        if (result.diffId !== diffId)
          throw new EngineError(
            'digest_mismatch',
            `layer ${layer.digest} unpacked to ${result.diffId}, config says ${diffId}`,
          );
        await rename(tmp, target);
        progress({ status: 'Pull complete', id });
      } catch (error) {
        await rm(tmp, { recursive: true, force: true });
        throw error;
      }
    })().finally(() => this.#unpacking.delete(chainId));
    this.#unpacking.set(chainId, job);
    return job;
  }

  async #snapshotsSize(chains: string[]): Promise<number> {
    let total = 0;
    for (const chain of chains) {
      total += await duSize(this.snapshotDir(chain));
    }
    return total;
  }

  #pin(keys: string[], delta: number): void {
    for (const key of keys) {
      const n = (this.#pinned.get(key) ?? 0) + delta;
      if (n <= 0) this.#pinned.delete(key);
      else this.#pinned.set(key, n);
    }
  }

  #client(domain: string, credentials: RegistryCredentials | undefined): RegistryClient {
    const creds = credentials ?? this.#options.credentials?.[domain];
    return new RegistryClient(domain, {
      ...(creds ? { credentials: creds } : {}),
      insecure: this.#options.insecureRegistries?.includes(domain) ?? false,
      ...this.#options.registryOptions,
    });
  }

  async #config(id: string): Promise<ImageConfig> {
    const cached = this.#configs.get(id);
    if (cached) return cached;
    const parsed = imageConfigSchema.safeParse(
      JSON.parse((await this.content.readBytes(id)).toString('utf8')),
    );
    if (!parsed.success)
      throw new EngineError('failed', `invalid image config ${id}: ${parsed.error.message}`);
    this.#configs.set(id, parsed.data);
    return parsed.data;
  }

  // ---------------------------------------------------------------- records

  /** Gives `tag` to `to`, taking it from whichever image had it (that one may become dangling). */
  async #moveTag(tag: string, to: ImageRecord): Promise<void> {
    for (const other of this.#records.values()) {
      if (other !== to && other.repoTags.includes(tag)) {
        other.repoTags = other.repoTags.filter((t) => t !== tag);
        await this.#saveRecord(other);
      }
    }
    if (!to.repoTags.includes(tag)) to.repoTags.push(tag);
    to.lastTagTime = new Date().toISOString();
  }

  async #saveRecord(record: ImageRecord): Promise<void> {
    await writeFileAtomic(join(this.#recordsDir, `${hexOf(record.id)}.json`), JSON.stringify(record));
  }

  /** index.json is derived from the records: one entry per tag (named for skopeo), one per untagged image. */
  async #writeIndex(): Promise<void> {
    const manifests: Descriptor[] = [];
    for (const record of this.#records.values()) {
      const base = {
        mediaType: record.manifest.mediaType || mediaTypes.ociManifest,
        digest: record.manifest.digest,
        size: record.manifest.size,
      };
      if (record.repoTags.length === 0) manifests.push(base);
      for (const tag of record.repoTags)
        manifests.push({ ...base, annotations: { [refNameAnnotation]: tag } });
    }
    await this.content.writeIndex({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests });
  }

  /** Finds an image by reference (tag or digest) or by full or short ID, as Docker does. */
  #resolve(refOrId: string): ImageRecord {
    const idLike = refOrId.replace(/^sha256:/, '');
    if (/^[0-9a-f]{64}$/.test(idLike)) {
      const byId = this.#records.get(`sha256:${idLike}`);
      if (byId) return byId;
    }
    let ref: ImageReference | undefined;
    try {
      if (!/^[0-9a-f]{64}$/.test(refOrId)) ref = parseReference(refOrId);
    } catch {
      ref = undefined;
    }
    if (ref) {
      const tagged =
        ref.tag !== undefined
          ? formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag })
          : undefined;
      for (const record of this.#records.values()) {
        if (ref.digest) {
          const wanted = `${repositoryName(ref)}@${ref.digest}`;
          if (
            record.repoDigests.includes(wanted) ||
            (record.manifest.digest === ref.digest &&
              record.repoTags.some((t) => t.startsWith(`${repositoryName(ref)}:`)))
          )
            return record;
        } else if (tagged && record.repoTags.includes(tagged)) return record;
      }
    }
    if (/^[0-9a-f]{4,64}$/.test(idLike)) {
      const matches = [...this.#records.values()].filter((r) => hexOf(r.id).startsWith(idLike));
      if (matches.length === 1 && matches[0]) return matches[0];
      if (matches.length > 1)
        throw new EngineError('invalid_argument', `image ID prefix ${refOrId} is ambiguous`);
    }
    throw new EngineError('not_found', `No such image: ${refOrId}`);
  }

  async #inspect(id: string): Promise<ImageInspect> {
    const record = this.#records.get(id);
    if (!record) throw new EngineError('not_found', `No such image: ${id}`);
    const config = await this.#config(id);
    const dirs = this.snapshotDirs(id);
    const out: ImageInspect = {
      Id: id,
      RepoTags: record.repoTags.map(displayRef),
      RepoDigests: record.repoDigests.map(displayRef),
      Parent: '',
      // What `docker commit -m` and `docker import -m` wrote at the config's top, as dockerd keeps it.
      Comment: typeof config.comment === 'string' ? config.comment : '',
      Created: config.created ?? new Date(0).toISOString(),
      DockerVersion: '',
      Author: config.author ?? '',
      Config: config.config ?? {},
      Architecture: config.architecture,
      Os: config.os,
      Size: record.size,
      VirtualSize: record.size,
      GraphDriver: { Name: 'overlay2', Data: { LowerDir: dirs.join(':') } },
      RootFS: { Type: 'layers', Layers: config.rootfs.diff_ids },
      Metadata: { LastTagTime: record.lastTagTime },
    };
    if (config.variant) out.Variant = config.variant;
    return out;
  }

  // ---------------------------------------------------------------- queries

  async inspect(refOrId: string): Promise<ImageInspect> {
    return this.#inspect(this.#resolve(refOrId).id);
  }

  async get(refOrId: string): Promise<ResolvedImage> {
    const record = this.#resolve(refOrId);
    const config = await this.#config(record.id);
    return {
      id: record.id,
      repoTags: record.repoTags.map(displayRef),
      config: config.config ?? {},
      architecture: config.architecture,
      os: config.os,
    };
  }

  /**
   * `docker history`: the config's history, newest first, each step that made a layer with that layer's size
   * (its snapshot's bytes). As dockerd does for an image without a local parent, only the newest step carries
   * the image's ID and tags; the others are `<missing>`.
   */
  async history(refOrId: string): Promise<ImageHistoryItem[]> {
    const record = this.#resolve(refOrId);
    const config = await this.#config(record.id);
    const steps = historySchema.parse(config.history ?? []);
    const items: ImageHistoryItem[] = [];
    let layer = 0;
    for (const step of steps) {
      let size = 0;
      if (!step.empty_layer) {
        const chain = record.chainIds[layer];
        if (!chain)
          throw new EngineError(
            'failed',
            `image ${record.id} has more layers in its history than in its rootfs`,
          );
        size = await duSize(this.snapshotDir(chain));
        layer++;
      }
      items.unshift({
        Id: '<missing>',
        Created: step.created ? Math.floor(Date.parse(step.created) / 1000) : 0,
        CreatedBy: step.created_by ?? '',
        Tags: null,
        Size: size,
        Comment: step.comment ?? '',
      });
    }
    const newest = items[0];
    if (newest) {
      newest.Id = record.id;
      newest.Tags = record.repoTags.length ? record.repoTags.map(displayRef) : null;
    }
    return items;
  }

  /** Overlay lowerdirs for the image, top layer first (`lowerdir=${dirs.join(':')}`). */
  snapshotDirs(imageId: string): string[] {
    const record = this.#records.get(imageId) ?? this.#resolve(imageId);
    return record.chainIds.map((c) => this.snapshotDir(c)).reverse();
  }

  list(options: { all?: boolean; dangling?: boolean } = {}): ImageSummary[] {
    const out: ImageSummary[] = [];
    for (const record of this.#records.values()) {
      if (options.dangling === true && record.repoTags.length > 0) continue;
      if (options.dangling === false && record.repoTags.length === 0) continue;
      const config = this.#configs.get(record.id);
      out.push({
        Id: record.id,
        ParentId: '',
        RepoTags: record.repoTags.map(displayRef),
        RepoDigests: record.repoDigests.map(displayRef),
        Created: config?.created ? Math.floor(Date.parse(config.created) / 1000) : 0,
        Size: record.size,
        SharedSize: -1,
        VirtualSize: record.size,
        Labels: config?.config?.Labels ?? {},
        Containers: -1,
      });
    }
    return out.sort((a, b) => b.Created - a.Created);
  }

  /** Loads configs of all records so `list()` can be synchronous. */
  async warm(): Promise<void> {
    for (const id of this.#records.keys()) await this.#config(id).catch(() => undefined);
  }

  // ---------------------------------------------------------------- mutations

  async tag(source: string, target: string): Promise<void> {
    const ref = parseReference(target);
    if (ref.digest)
      throw new EngineError(
        'invalid_argument',
        `refusing to create a tag with a digest reference: ${target}`,
      );
    const tag = formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag ?? 'latest' });
    await this.#lock.run(async () => {
      const record = this.#resolve(source);
      await this.#moveTag(tag, record);
      await this.#saveRecord(record);
      await this.#writeIndex();
      this.#events.emit('image', 'tag', record.id, { name: displayRef(tag) });
    });
  }

  async remove(refOrId: string, options: RemoveOptions = {}): Promise<RemoveResult> {
    return this.#lock.run(async () => {
      const record = this.#resolve(refOrId);
      const result: RemoveResult = [];
      const byId = hexOf(record.id).startsWith(refOrId.replace(/^sha256:/, ''));
      let ref: ImageReference | undefined;
      try {
        ref = byId ? undefined : parseReference(refOrId);
      } catch {
        ref = undefined;
      }
      const tag =
        ref && !ref.digest
          ? formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag ?? 'latest' })
          : undefined;
      const users = this.#usage(record.id);
      if (
        tag &&
        record.repoTags.includes(tag) &&
        (record.repoTags.length > 1 || (users.length > 0 && options.force))
      ) {
        record.repoTags = record.repoTags.filter((t) => t !== tag);
        result.push({ Untagged: displayRef(tag) });
        this.#events.emit('image', 'untag', record.id, { name: displayRef(tag) });
        await this.#saveRecord(record);
        await this.#writeIndex();
        return result;
      }
      if (ref?.digest) {
        // `rmi repo@sha256:…` drops that one reference; the image goes only if nothing else names it.
        const digestRef = `${repositoryName(ref)}@${ref.digest}`;
        const otherNames = record.repoTags.length + record.repoDigests.filter((d) => d !== digestRef).length;
        if (
          record.repoDigests.includes(digestRef) &&
          (otherNames > 0 || (users.length > 0 && options.force))
        ) {
          record.repoDigests = record.repoDigests.filter((d) => d !== digestRef);
          result.push({ Untagged: displayRef(digestRef) });
          this.#events.emit('image', 'untag', record.id, { name: displayRef(digestRef) });
          await this.#saveRecord(record);
          return result;
        }
      }
      if (byId && record.repoTags.length > 1 && !options.force)
        throw new EngineError(
          'conflict',
          `unable to delete ${shortId(record.id)} (must be forced) - image is referenced in multiple repositories`,
        );
      if (users.length > 0 && !options.force)
        throw new EngineError(
          'conflict',
          `unable to remove ${refOrId} (must be forced) - image ${shortId(record.id)} is being used by container ${shortId(users[0] ?? '')}`,
        );
      for (const t of record.repoTags) {
        result.push({ Untagged: displayRef(t) });
        this.#events.emit('image', 'untag', record.id, { name: displayRef(t) });
      }
      for (const d of record.repoDigests) result.push({ Untagged: displayRef(d) });
      record.repoTags = [];
      if (users.length > 0) {
        // Forced while in use: Docker untags and leaves the image for its containers.
        await this.#saveRecord(record);
        await this.#writeIndex();
        return result;
      }
      await this.#delete(record);
      result.push({ Deleted: record.id });
      this.#events.emit('image', 'delete', record.id, { name: record.id });
      return result;
    });
  }

  async prune(): Promise<{ ImagesDeleted: RemoveResult; SpaceReclaimed: number }> {
    return this.#lock.run(async () => {
      const deleted: RemoveResult = [];
      let reclaimed = 0;
      for (const record of [...this.#records.values()]) {
        if (record.repoTags.length > 0 || this.#usage(record.id).length > 0) continue;
        reclaimed += await this.#delete(record);
        for (const d of record.repoDigests) deleted.push({ Untagged: displayRef(d) });
        deleted.push({ Deleted: record.id });
        this.#events.emit('image', 'delete', record.id, { name: record.id });
      }
      return { ImagesDeleted: deleted, SpaceReclaimed: reclaimed };
    });
  }

  /**
   * Deletes those of `blobs` and `chains` that no record references and no in-flight pull pins beyond
   * `ownPins`. Returns the snapshot bytes freed.
   */
  async #collect(blobs: string[], chains: string[], ownPins: number): Promise<number> {
    const keepBlobs = new Set<string>();
    const keepChains = new Set<string>();
    for (const other of this.#records.values()) {
      keepBlobs.add(other.id).add(other.manifest.digest);
      if (other.index) keepBlobs.add(other.index.digest);
      for (const chain of other.chainIds) keepChains.add(chain);
      try {
        const m = manifestSchema.parse(
          JSON.parse((await this.content.readBytes(other.manifest.digest)).toString('utf8')),
        );
        for (const layer of m.layers) keepBlobs.add(layer.digest);
      } catch {
        // an unreadable manifest keeps nothing alive; its own image is broken already
      }
    }
    const pinnedBeyond = (key: string) => (this.#pinned.get(key) ?? 0) > ownPins;
    let reclaimed = 0;
    for (const digest of new Set(blobs)) {
      if (keepBlobs.has(digest) || pinnedBeyond(digest)) continue;
      await this.content.delete(digest);
    }
    for (const chain of new Set(chains)) {
      if (keepChains.has(chain) || pinnedBeyond(chain)) continue;
      reclaimed += await duSize(this.snapshotDir(chain)).catch(() => 0);
      await rm(this.snapshotDir(chain), { recursive: true, force: true });
    }
    return reclaimed;
  }

  /** Drops a record and whatever of its content and snapshots no other image or in-flight pull needs. */
  async #delete(record: ImageRecord): Promise<number> {
    this.#records.delete(record.id);
    await rm(join(this.#recordsDir, `${hexOf(record.id)}.json`), { force: true });
    await this.#writeIndex();
    const blobs = [record.id, record.manifest.digest, ...(record.index ? [record.index.digest] : [])];
    try {
      const m = manifestSchema.parse(
        JSON.parse((await this.content.readBytes(record.manifest.digest)).toString('utf8')),
      );
      for (const layer of m.layers) blobs.push(layer.digest);
    } catch {
      // nothing more to collect
    }
    const reclaimed = await this.#collect(blobs, record.chainIds, 0);
    this.#configs.delete(record.id);
    return reclaimed;
  }

  // ---------------------------------------------------------------- push

  async push(reference: string, options: PushOptions = {}): Promise<{ digest: string; size: number }> {
    const ref = parseReference(reference);
    const display = familiarString(ref);
    const progress = options.onProgress ?? (() => {});
    try {
      const record = this.#resolve(reference);
      const client = this.#client(ref.domain, options.credentials);
      const manifestBytes = await this.content.readBytes(record.manifest.digest);
      const manifest = manifestSchema.parse(JSON.parse(manifestBytes.toString('utf8')));
      progress({ status: `The push refers to repository [${familiarName(ref)}]` });
      const mountFrom = [...record.repoTags, ...record.repoDigests]
        .map((r) => parseReference(r))
        .find((r) => r.domain === ref.domain && r.path !== ref.path)?.path;
      const limiter = new Limiter(this.#options.concurrency ?? 3);
      for (const layer of manifest.layers) progress({ status: 'Preparing', id: shortId(layer.digest) });
      const gzipType =
        record.manifest.mediaType === mediaTypes.dockerManifest
          ? mediaTypes.dockerLayerGzip
          : mediaTypes.ociLayerGzip;
      /** Pushes one blob unless the registry has it; `open` gives its bytes (from the store unless `fromStore` is false). */
      const pushOne = async (
        blob: { digest: string; size: number },
        isLayer: boolean,
        id: string,
        open: () => Readable,
        fromStore = true,
      ): Promise<void> => {
        if (await client.blobExists(ref.path, blob.digest, options.signal)) {
          if (isLayer) progress({ status: 'Layer already exists', id });
          return;
        }
        if (fromStore && !(await this.content.has(blob.digest)))
          throw new EngineError('not_found', `blob ${blob.digest} is not in the local store`);
        const how = await client.pushBlob(
          ref.path,
          blob,
          () => {
            const stream = open();
            let done = 0;
            if (isLayer)
              stream.on('data', (chunk: string | Buffer) => {
                done += chunk.length;
                progress({ status: 'Pushing', id, progressDetail: { current: done, total: blob.size } });
              });
            return stream;
          },
          {
            ...(mountFrom ? { mountFrom } : {}),
            ...(this.#options.pushChunkSize ? { chunkSize: this.#options.pushChunkSize } : {}),
            signal: options.signal,
          },
        );
        if (isLayer) progress({ status: how === 'mounted' ? `Mounted from ${mountFrom}` : 'Pushed', id });
      };
      const pushed = await Promise.all(
        manifest.layers.map((layer) =>
          limiter.run(async (): Promise<Descriptor | undefined> => {
            const id = shortId(layer.digest);
            if (!uncompressedLayerTypes.has(layer.mediaType)) {
              await pushOne(layer, true, id, () => this.content.read(layer.digest));
              return undefined;
            }
            // Layers Berth built are stored as plain tars; registries get them gzipped, as dockerd pushes.
            const compressed = await this.#compressedLayer(layer, ref.path, client, options.signal);
            const descriptor: Descriptor = {
              ...layer,
              mediaType: gzipType,
              digest: compressed.digest,
              size: compressed.size,
            };
            try {
              if (compressed.path) {
                const path = compressed.path;
                await pushOne(descriptor, true, id, () => createReadStream(path), false);
              } else progress({ status: 'Layer already exists', id });
            } finally {
              if (compressed.path) await rm(compressed.path, { force: true });
            }
            return descriptor;
          }),
        ),
      );
      await limiter.run(() =>
        pushOne(manifest.config, false, shortId(manifest.config.digest), () =>
          this.content.read(manifest.config.digest),
        ),
      );
      let pushedBytes = manifestBytes;
      if (pushed.some(Boolean)) {
        // The rest of the manifest (annotations, subject…) goes as it is; only the layer descriptors change.
        const raw = JSON.parse(manifestBytes.toString('utf8')) as { layers: unknown[] };
        raw.layers = raw.layers.map((layer, i) => pushed[i] ?? layer);
        pushedBytes = Buffer.from(JSON.stringify(raw));
      }
      const tag = ref.digest ?? ref.tag ?? 'latest';
      const digest = await client.putManifest(
        ref.path,
        tag,
        record.manifest.mediaType || mediaTypes.ociManifest,
        pushedBytes,
        options.signal,
      );
      progress({ status: `${tag}: digest: ${digest} size: ${pushedBytes.length}` });
      await this.#lock.run(async () => {
        const repoDigest = `${repositoryName(ref)}@${digest}`;
        if (!record.repoDigests.includes(repoDigest)) record.repoDigests.push(repoDigest);
        await this.#saveRecord(record);
      });
      this.#events.emit('image', 'push', familiarString(ref), { name: familiarString(ref) });
      return { digest, size: pushedBytes.length };
    } catch (error) {
      if (EngineError.is(error))
        throw new EngineError(error.code, `push ${display}: ${error.message}`, { cause: error });
      throw new EngineError('internal', `push ${display}: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * The gzip form of a plain-tar layer, for a push. Its digest is recorded at the first push, so a later push
   * that finds it in the registry (HEAD) compresses nothing; otherwise the layer is compressed to a scratch
   * file (`path`, removed by the caller once pushed) and the digest recorded for next time. Plain tars stay
   * what the store keeps: the config's diff_ids name them.
   */
  async #compressedLayer(
    layer: Descriptor,
    repository: string,
    client: RegistryClient,
    signal: AbortSignal | undefined,
  ): Promise<{ digest: string; size: number; path?: string }> {
    const dir = join(this.#dataRoot, 'compressed');
    const record = join(dir, `${hexOf(layer.digest)}.json`);
    const known = compressedSchema.safeParse(JSON.parse(await readFile(record, 'utf8').catch(() => 'null')));
    if (known.success && (await client.blobExists(repository, known.data.digest, signal))) return known.data;
    if (!(await this.content.has(layer.digest)))
      throw new EngineError('not_found', `blob ${layer.digest} is not in the local store`);
    await mkdir(dir, { recursive: true });
    const path = join(dir, `.push-${randomBytes(8).toString('hex')}`);
    try {
      const hash = createHash('sha256');
      let size = 0;
      await pipeline(
        this.content.read(layer.digest),
        createGzip(),
        new Transform({
          transform(chunk: Buffer, _encoding, done) {
            hash.update(chunk);
            size += chunk.length;
            done(null, chunk);
          },
        }),
        createWriteStream(path),
        signal ? { signal } : {},
      );
      const compressed = { digest: `sha256:${hash.digest('hex')}`, size };
      await writeFileAtomic(record, JSON.stringify(compressed));
      return { ...compressed, path };
    } catch (error) {
      await rm(path, { force: true });
      throw error;
    }
  }

  get dataRoot(): string {
    return this.#dataRoot;
  }
}

/**
 * The canonical repository a `docker save` argument names when it names a repository alone (`busybox`,
 * `host:5000/app`: no tag, no digest, not an ID), else undefined.
 */
function bareRepository(input: string): string | undefined {
  if (input.includes('@') || /^(sha256:)?[0-9a-f]{4,64}$/.test(input)) return undefined;
  const lastSegment = input.slice(input.lastIndexOf('/') + 1);
  if (lastSegment.includes(':')) return undefined;
  try {
    return repositoryName(parseReference(input));
  } catch {
    return undefined;
  }
}

/** A name from an archive as a canonical tag (`busybox` → `docker.io/library/busybox:latest`). */
function canonicalTag(name: string): string {
  const ref = parseReference(name);
  if (ref.digest && !ref.tag)
    throw new EngineError('invalid_argument', `invalid image archive: it names ${name}, a digest, not a tag`);
  return formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag ?? 'latest' });
}

/** `docker.io/library/busybox:latest` -> `busybox:latest`, as Docker shows repo tags and digests. */
function displayRef(canonical: string): string {
  return familiarString(parseReference(canonical));
}

async function duSize(dir: string): Promise<number> {
  let total = 0;
  const stack = [dir];
  while (stack.length) {
    const current = stack.pop() as string;
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) stack.push(path);
      else if (entry.isFile()) total += (await stat(path)).size;
    }
  }
  return total;
}
