import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createGzip, gzipSync } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import type { Engine } from '../engine';
import { type Descriptor, mediaTypes, type Platform } from '../images/oci';
import { formatReference, parseReference } from '../images/reference';
import { RegistryClient, type RegistryCredentials } from '../images/registry';

/** One tar entry of a test layer. Paths are written verbatim, so hostile names are possible on purpose. */
export interface LayerEntry {
  path: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  content?: Buffer | string;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, string>;
}

export type Compression = 'gzip' | 'zstd' | 'none';

export interface BuiltBlob {
  descriptor: Descriptor;
  open: () => Readable;
}

export interface BuiltLayer extends BuiltBlob {
  diffId: string;
}

/** An image as blobs that can be pushed to a registry or imported into an engine. */
export interface BuiltImage {
  manifest: Descriptor;
  manifestBytes: Buffer;
  config: Descriptor;
  blobs: Map<string, BuiltBlob>;
  platform: Platform;
}

const fixedTime = new Date('2024-01-01T00:00:00Z');
const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

function memoryBlob(mediaType: string, bytes: Buffer, annotations?: Record<string, string>): BuiltBlob {
  return {
    descriptor: {
      mediaType,
      digest: sha256(bytes),
      size: bytes.length,
      ...(annotations ? { annotations } : {}),
    },
    open: () => Readable.from([bytes]),
  };
}

export async function tarBytes(entries: LayerEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const content = e.content === undefined ? undefined : Buffer.from(e.content);
    const header: Partial<Header> & { name: string } = {
      name: e.path,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? fixedTime,
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
      ...(e.xattrs
        ? { pax: Object.fromEntries(Object.entries(e.xattrs).map(([k, v]) => [`SCHILY.xattr.${k}`, v])) }
        : {}),
    };
    await new Promise<void>((resolve, reject) => {
      if (type === 'file')
        pack.entry({ ...header, size: content?.length ?? 0 }, content ?? Buffer.alloc(0), (err) =>
          err ? reject(err) : resolve(),
        );
      else pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

export async function buildLayer(
  entries: LayerEntry[],
  compression: Compression = 'gzip',
): Promise<BuiltLayer> {
  const raw = await tarBytes(entries);
  const diffId = sha256(raw);
  if (compression === 'none') return { ...memoryBlob(mediaTypes.ociLayer, raw), diffId };
  if (compression === 'zstd') {
    const { spawnSync } = await import('node:child_process');
    const out = spawnSync('zstd', ['-q', '-c', '-3'], { input: raw, maxBuffer: 1024 * 1024 * 1024 });
    if (out.status !== 0) throw new Error(`zstd failed: ${out.stderr?.toString()}`);
    return { ...memoryBlob(mediaTypes.ociLayerZstd, out.stdout), diffId };
  }
  return { ...memoryBlob(mediaTypes.ociLayerGzip, gzipSync(raw, { level: 1 })), diffId };
}

export interface ImageSpec {
  layers: BuiltLayer[];
  platform?: Platform;
  config?: Record<string, unknown>; // the image config's `config` (Env, Cmd, …)
  mediaType?: 'oci' | 'docker';
}

export function buildImage(spec: ImageSpec): BuiltImage {
  const platform = spec.platform ?? { os: 'linux', architecture: 'amd64' };
  const docker = spec.mediaType === 'docker';
  const configJson = {
    created: fixedTime.toISOString(),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['sh'],
      ...spec.config,
    },
    rootfs: { type: 'layers', diff_ids: spec.layers.map((l) => l.diffId) },
    history: spec.layers.map(() => ({ created: fixedTime.toISOString(), created_by: 'bt-img fixture' })),
  };
  const config = memoryBlob(
    docker ? mediaTypes.dockerConfig : mediaTypes.ociConfig,
    Buffer.from(JSON.stringify(configJson)),
  );
  const manifestJson = {
    schemaVersion: 2,
    mediaType: docker ? mediaTypes.dockerManifest : mediaTypes.ociManifest,
    config: config.descriptor,
    layers: spec.layers.map((l) =>
      docker && l.descriptor.mediaType === mediaTypes.ociLayerGzip
        ? { ...l.descriptor, mediaType: mediaTypes.dockerLayerGzip }
        : l.descriptor,
    ),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifestJson));
  const blobs = new Map<string, BuiltBlob>();
  blobs.set(config.descriptor.digest, config);
  for (const layer of spec.layers) blobs.set(layer.descriptor.digest, layer);
  return {
    manifest: {
      mediaType: manifestJson.mediaType,
      digest: sha256(manifestBytes),
      size: manifestBytes.length,
    },
    manifestBytes,
    config: config.descriptor,
    blobs,
    platform,
  };
}

const applets = [
  'sh',
  'ash',
  'ls',
  'cat',
  'echo',
  'sleep',
  'true',
  'false',
  'env',
  'id',
  'nc',
  'nslookup',
  'httpd',
  'wget',
  'hostname',
  'ps',
  'mkdir',
  'rm',
  'touch',
  'test',
  '[',
  'printf',
  'grep',
  'sed',
  'head',
  'tail',
  'wc',
  'cp',
  'mv',
  'ln',
  'chmod',
  'chown',
  'stat',
  'date',
  'kill',
  'pwd',
  'uname',
  'whoami',
  'ip',
  'ifconfig',
  'ping',
  'mount',
  'df',
  'du',
  'find',
  'xargs',
  'tr',
  'cut',
  'sort',
  'uniq',
  'tee',
  'yes',
  'seq',
  'expr',
  'readlink',
  'basename',
  'dirname',
  'top',
  'free',
  'vi',
  'tar',
  'gzip',
  'md5sum',
  'sha256sum',
  'dd',
  'base64',
  'nproc',
  'timeout',
  'ulimit',
  'su',
  'watch',
  'awk',
  'diff',
  'ln',
  'rmdir',
  'stty',
  'sync',
  'uptime',
  'which',
  'netstat',
  'route',
  'traceroute',
];

/** The root filesystem of the busybox test image: static busybox, its applets, and root/nobody/app users. */
export async function busyboxEntries(): Promise<LayerEntry[]> {
  const busybox = await readFile('/bin/busybox');
  const entries: LayerEntry[] = [];
  for (const d of [
    'bin',
    'dev',
    'etc',
    'home',
    'proc',
    'root',
    'sys',
    'usr',
    'usr/bin',
    'usr/sbin',
    'var',
    'var/www',
    'sbin',
  ])
    entries.push({ path: `${d}/`, type: 'directory', mode: d === 'root' ? 0o700 : 0o755 });
  entries.push({ path: 'tmp/', type: 'directory', mode: 0o1777 });
  entries.push({ path: 'home/app/', type: 'directory', mode: 0o755, uid: 1000, gid: 1000 });
  entries.push({ path: 'bin/busybox', content: busybox, mode: 0o755 });
  for (const applet of new Set(applets))
    entries.push({ path: `bin/${applet}`, type: 'symlink', linkname: 'busybox' });
  entries.push({
    path: 'etc/passwd',
    content:
      'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n',
  });
  entries.push({ path: 'etc/group', content: 'root:x:0:\nnobody:x:65534:\napp:x:1000:\n' });
  return entries;
}

let busyboxCache: Promise<BuiltImage> | undefined;

/** The single-layer busybox image (built once per process). */
export function busyboxImage(): Promise<BuiltImage> {
  busyboxCache ??= (async () => buildImage({ layers: [await buildLayer(await busyboxEntries())] }))();
  return busyboxCache;
}

/**
 * busybox with a /version file holding `version`, and the version in its env (APP_VERSION) and its labels
 * (bt.image.version), running `sleep 1000`: a newer one pushed under the same tag differs in each. `config`
 * adds to its config or replaces parts of it.
 */
export async function versionedImage(
  version: string,
  config: Record<string, unknown> = {},
): Promise<BuiltImage> {
  const base = await buildLayer(await busyboxEntries());
  const extra = await buildLayer([{ path: 'version', content: `${version}\n`, mode: 0o644 }]);
  return buildImage({
    layers: [base, extra],
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `APP_VERSION=${version}`],
      Cmd: ['sleep', '1000'],
      Labels: { 'bt.image.version': version },
      ...config,
    },
  });
}

/**
 * busybox plus two layers exercising overlay semantics: layer 2 adds /data/{a,b}, /opq/{old1,old2} and a
 * hardlink; layer 3 deletes /data/a (whiteout) and replaces /opq's contents (opaque dir).
 */
export async function layeredImage(): Promise<BuiltImage> {
  const base = await buildLayer(await busyboxEntries());
  const second = await buildLayer([
    { path: 'data/', type: 'directory' },
    { path: 'data/a', content: 'a\n' },
    { path: 'data/b', content: 'b\n', mode: 0o640, uid: 1000, gid: 1000 },
    { path: 'data/b-link', type: 'link', linkname: 'data/b' },
    { path: 'opq/', type: 'directory' },
    { path: 'opq/old1', content: 'old1\n' },
    { path: 'opq/old2', content: 'old2\n' },
  ]);
  const third = await buildLayer(
    [
      { path: 'data/', type: 'directory' },
      { path: 'data/.wh.a', content: '' },
      { path: 'opq/', type: 'directory' },
      { path: 'opq/.wh..wh..opq', content: '' },
      { path: 'opq/new', content: 'new\n' },
    ],
    'zstd',
  );
  return buildImage({
    layers: [base, second, third],
    config: { Cmd: ['cat', '/data/b'], WorkingDir: '/data' },
  });
}

/** Two images for an index: linux/amd64 (busybox) and linux/arm64 (a marker file only). */
export async function multiPlatformImages(mediaType: 'oci' | 'docker' = 'oci'): Promise<BuiltImage[]> {
  const amd64 = buildImage({
    mediaType,
    layers: [
      await buildLayer([...(await busyboxEntries()), { path: 'etc/platform', content: 'linux/amd64\n' }]),
    ],
  });
  const arm64 = buildImage({
    mediaType,
    layers: [
      await buildLayer([
        { path: 'etc/', type: 'directory' },
        { path: 'etc/platform', content: 'linux/arm64\n' },
      ]),
    ],
    platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
  });
  return [amd64, arm64];
}

export function buildIndex(images: BuiltImage[], docker = false): { descriptor: Descriptor; bytes: Buffer } {
  const json = {
    schemaVersion: 2,
    mediaType: docker ? mediaTypes.dockerList : mediaTypes.ociIndex,
    manifests: images.map((img) => ({ ...img.manifest, platform: img.platform })),
  };
  const bytes = Buffer.from(JSON.stringify(json));
  return { descriptor: { mediaType: json.mediaType, digest: sha256(bytes), size: bytes.length }, bytes };
}

/** Pushes a built image to `host/repo:tag` with Berth's own registry client. */
export async function pushImage(
  reference: string,
  image: BuiltImage,
  options: { credentials?: RegistryCredentials; byDigestOnly?: boolean } = {},
): Promise<string> {
  const ref = parseReference(reference);
  const client = new RegistryClient(
    ref.domain,
    options.credentials ? { credentials: options.credentials } : {},
  );
  for (const blob of image.blobs.values()) {
    if (!(await client.blobExists(ref.path, blob.descriptor.digest)))
      await client.pushBlob(ref.path, blob.descriptor, blob.open);
  }
  const tag = options.byDigestOnly ? image.manifest.digest : (ref.tag ?? 'latest');
  return client.putManifest(ref.path, tag, image.manifest.mediaType, image.manifestBytes);
}

export async function pushIndex(
  reference: string,
  images: BuiltImage[],
  options: { credentials?: RegistryCredentials; docker?: boolean } = {},
): Promise<string> {
  for (const image of images)
    await pushImage(reference, image, {
      ...(options.credentials ? { credentials: options.credentials } : {}),
      byDigestOnly: true,
    });
  const ref = parseReference(reference);
  const client = new RegistryClient(
    ref.domain,
    options.credentials ? { credentials: options.credentials } : {},
  );
  const index = buildIndex(images, options.docker ?? false);
  return client.putManifest(ref.path, ref.tag ?? 'latest', index.descriptor.mediaType, index.bytes);
}

/** Puts a built image straight into an engine's store under `tag`, no registry involved. Returns the image ID. */
export async function importImage(engine: Engine, image: BuiltImage, tag: string): Promise<string> {
  const ref = parseReference(tag);
  return engine.images.importImage({
    manifest: image.manifest,
    manifestBytes: image.manifestBytes,
    source: {
      open: async (descriptor) => {
        const blob = image.blobs.get(descriptor.digest);
        if (!blob) throw new Error(`fixture has no blob ${descriptor.digest}`);
        return blob.open();
      },
    },
    tag: formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag ?? 'latest' }),
  });
}

/** Gets `busybox:latest` (or `tag`) into an engine in well under a second. Returns the image ID. */
export async function loadBusybox(engine: Engine, tag = 'busybox:latest'): Promise<string> {
  return importImage(engine, await busyboxImage(), tag);
}

/** Pushes the busybox image to a fixture registry as `HOST/repo:tag`; returns the full reference. */
export async function pushBusybox(
  registry: { host: string },
  repository = 'bt-img/busybox:latest',
  credentials?: RegistryCredentials,
): Promise<string> {
  const reference = `${registry.host}/${repository}`;
  await pushImage(reference, await busyboxImage(), credentials ? { credentials } : {});
  return reference;
}

/**
 * A large image for benchmarks, written to `dir` as files: `layers` layers of `layerBytes` random bytes each
 * (incompressible, so gzip stores rather than shrinks), streamed so it never sits in memory.
 */
export async function buildRandomImage(
  dir: string,
  layers = 5,
  layerBytes = 40 * 1024 * 1024,
): Promise<BuiltImage> {
  const built: BuiltLayer[] = [];
  const { randomFillSync } = await import('node:crypto');
  const { join } = await import('node:path');
  for (let i = 0; i < layers; i++) {
    const path = join(dir, `layer-${i}.tar.gz`);
    const pack = tar.pack();
    const diffHash = createHash('sha256');
    const blobHash = createHash('sha256');
    const hashTo = (hash: ReturnType<typeof createHash>) =>
      new Transform({
        transform(chunk: Buffer, _e, cb) {
          hash.update(chunk);
          cb(null, chunk);
        },
      });
    const writing = pipeline(
      pack,
      hashTo(diffHash),
      createGzip({ level: constants.Z_BEST_SPEED }),
      hashTo(blobHash),
      createWriteStream(path),
    );
    const entry = pack.entry({ name: `random-${i}.bin`, size: layerBytes, mode: 0o644, mtime: fixedTime });
    const chunk = Buffer.alloc(1024 * 1024);
    for (let written = 0; written < layerBytes; written += chunk.length) {
      randomFillSync(chunk);
      const part = chunk.subarray(0, Math.min(chunk.length, layerBytes - written));
      if (!entry.write(Buffer.from(part)))
        await new Promise<void>((resolve) => entry.once('drain', () => resolve()));
    }
    entry.end(Buffer.alloc(0));
    pack.finalize();
    await writing;
    const size = (await stat(path)).size;
    built.push({
      descriptor: { mediaType: mediaTypes.ociLayerGzip, digest: `sha256:${blobHash.digest('hex')}`, size },
      diffId: `sha256:${diffHash.digest('hex')}`,
      open: () => createReadStream(path, { highWaterMark: 1024 * 1024 }),
    });
  }
  return buildImage({ layers: built, config: { Cmd: ['true'] } });
}
