import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { EngineError } from '../errors';
import type { Descriptor } from './oci';

const hexOf = (digest: string) => digest.slice('sha256:'.length);

export type IngestProgress = (bytesDone: number) => void;

/**
 * Blobs in OCI image-layout form. Every write lands in `ingest/` first, is hashed on the way, fsynced and only
 * renamed into `blobs/sha256/` when the digest and size match, so a reader never sees a partial blob. Writers
 * of the same digest in this process share one ingest.
 */
export class ContentStore {
  readonly root: string;
  readonly #inflight = new Map<string, Promise<void>>();

  constructor(root: string) {
    this.root = root;
  }

  async init(): Promise<void> {
    await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
    // Anything left in ingest/ belongs to a process that died mid-download.
    await rm(join(this.root, 'ingest'), { recursive: true, force: true });
    await mkdir(join(this.root, 'ingest'), { recursive: true });
    const layoutPath = join(this.root, 'oci-layout');
    if (!(await exists(layoutPath)))
      await writeFile(layoutPath, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    if (!(await exists(join(this.root, 'index.json'))))
      await this.writeIndex({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [],
      });
  }

  blobPath(digest: string): string {
    return join(this.root, 'blobs', 'sha256', hexOf(digest));
  }

  async has(digest: string): Promise<boolean> {
    return exists(this.blobPath(digest));
  }

  async size(digest: string): Promise<number> {
    return (await stat(this.blobPath(digest))).size;
  }

  read(digest: string): ReadStream {
    return createReadStream(this.blobPath(digest), { highWaterMark: 1024 * 1024 });
  }

  async readBytes(digest: string): Promise<Buffer> {
    return readFile(this.blobPath(digest));
  }

  async list(): Promise<string[]> {
    const names = await readdir(join(this.root, 'blobs', 'sha256'));
    return names.filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  async delete(digest: string): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }

  async writeBytes(descriptor: Pick<Descriptor, 'digest' | 'size'>, bytes: Buffer): Promise<void> {
    const { Readable } = await import('node:stream');
    await this.write(descriptor, () => Readable.from([bytes]));
  }

  /**
   * Streams `open()` into the store, verifying digest and size. If the blob is already present nothing is read;
   * if another write of the same digest is in flight, this waits for it instead of racing it.
   */
  async write(
    descriptor: Pick<Descriptor, 'digest' | 'size'>,
    openStream: () => Readable | Promise<Readable>,
    onProgress?: IngestProgress,
  ): Promise<void> {
    const { digest } = descriptor;
    const running = this.#inflight.get(digest);
    if (running) return running;
    const job = (async () => {
      if (await this.has(digest)) return;
      await this.#ingest(descriptor, await openStream(), onProgress);
    })().finally(() => this.#inflight.delete(digest));
    this.#inflight.set(digest, job);
    return job;
  }

  async #ingest(
    { digest, size }: Pick<Descriptor, 'digest' | 'size'>,
    source: Readable,
    onProgress?: IngestProgress,
  ): Promise<void> {
    const tmp = join(this.root, 'ingest', `${hexOf(digest)}.${randomBytes(6).toString('hex')}`);
    const file = await open(tmp, 'wx', 0o644);
    let committed = false;
    try {
      const hash = createHash('sha256');
      let done = 0;
      for await (const chunk of source as AsyncIterable<Buffer>) {
        done += chunk.length;
        if (done > size)
          throw new EngineError(
            'digest_mismatch',
            `blob ${digest} is larger than its declared ${size} bytes`,
          );
        hash.update(chunk);
        let off = 0;
        while (off < chunk.length) {
          const { bytesWritten } = await file.write(chunk, off, chunk.length - off);
          off += bytesWritten;
        }
        onProgress?.(done);
      }
      if (done !== size)
        throw new EngineError('digest_mismatch', `blob ${digest} ended after ${done} of ${size} bytes`);
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest)
        throw new EngineError('digest_mismatch', `blob content hashed to ${actual}, expected ${digest}`);
      await file.sync();
      await file.close();
      await rename(tmp, this.blobPath(digest));
      committed = true;
    } finally {
      if (!committed) {
        source.destroy();
        await file.close().catch(() => {});
        await rm(tmp, { force: true });
      }
    }
  }

  async readIndex(): Promise<{ schemaVersion: 2; mediaType: string; manifests: Descriptor[] }> {
    return JSON.parse(await readFile(join(this.root, 'index.json'), 'utf8'));
  }

  async writeIndex(index: { schemaVersion: 2; mediaType: string; manifests: Descriptor[] }): Promise<void> {
    await writeFileAtomic(join(this.root, 'index.json'), JSON.stringify(index));
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const file = await open(tmp, 'w', 0o644);
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}
