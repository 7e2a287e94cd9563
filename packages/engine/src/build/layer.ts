/**
 * A build step's layer: an overlay upper directory (or a directory in the same form) written as an OCI layer
 * tar. Overlay whiteouts (0/0 character devices) become `.wh.NAME` files and opaque directories
 * (trusted.overlay.opaque=y) get a `.wh..wh..opq` entry, as moby's overlay whiteout converter writes them.
 * Entries are sorted by name so the same tree always gives the same tar and diffID.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, readdir, readlink, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar, { type Header } from 'tar-stream';
import { EngineError } from '../errors';
import type { ContentStore } from '../images/content';
import { type Descriptor, mediaTypes } from '../images/oci';

export interface CommittedLayer {
  descriptor: Descriptor;
  diffId: string;
}

/** Directories overlay marked opaque (recreated over a lower one), in one getfattr run over the tree. */
function opaqueDirs(root: string): Set<string> {
  // Node has no getxattr; getfattr lists only the paths that carry the attribute (and exits 1 for the rest).
  const out = spawnSync('getfattr', ['-R', '-h', '--absolute-names', '-n', 'trusted.overlay.opaque', root], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (out.error) throw new EngineError('unavailable', `getfattr: ${out.error.message}`);
  const found = new Set<string>();
  let current: string | undefined;
  for (const line of out.stdout.split('\n')) {
    if (line.startsWith('# file: ')) current = line.slice('# file: '.length);
    else if (current && line === 'trusted.overlay.opaque="y"') found.add(current);
  }
  return found;
}

async function walk(root: string): Promise<{ rel: string; opaque: boolean }[]> {
  const opaque = opaqueDirs(root);
  const out: { rel: string; opaque: boolean }[] = [];
  const visit = async (rel: string) => {
    const names = (await readdir(rel ? join(root, rel) : root)).sort();
    for (const name of names) {
      const child = rel ? `${rel}/${name}` : name;
      const info = await lstat(join(root, child));
      if (info.isDirectory()) {
        out.push({ rel: child, opaque: opaque.has(join(root, child)) });
        await visit(child);
      } else out.push({ rel: child, opaque: false });
    }
  };
  await visit('');
  return out;
}

/** True when the directory holds nothing: the step changed no file (Docker records an empty layer). */
export async function isEmptyDir(dir: string): Promise<boolean> {
  return (await readdir(dir)).length === 0;
}

/**
 * Writes `dir` as an uncompressed layer tar into the content store and returns its descriptor. Layers stay
 * uncompressed in the store (a built layer is read back at once for its diffID; dockerd keeps them
 * uncompressed too); the OCI media type says so, and registries and dockerd accept it.
 */
export async function commitLayer(dir: string, content: ContentStore): Promise<CommittedLayer> {
  const entries = await walk(dir);
  const tmp = join(content.root, 'ingest', `build-${randomBytes(8).toString('hex')}.tar`);
  const pack = tar.pack();
  const hash = createHash('sha256');
  let size = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  const writing = pipeline(pack, hasher, createWriteStream(tmp, { mode: 0o644 }));
  writing.catch(() => {});
  const inodes = new Map<string, string>();
  const add = (header: Partial<Header> & { name: string }) =>
    new Promise<void>((resolve, reject) =>
      pack.entry(header, Buffer.alloc(0), (err) => (err ? reject(err) : resolve())),
    );
  try {
    for (const { rel, opaque } of entries) {
      const abs = join(dir, rel);
      const info = await lstat(abs);
      const base = {
        mode: info.mode & 0o7777,
        uid: info.uid,
        gid: info.gid,
        mtime: new Date(Math.floor(info.mtimeMs / 1000) * 1000),
      };
      if (info.isCharacterDevice() && info.rdev === 0) {
        const slash = rel.lastIndexOf('/');
        const name = slash === -1 ? `.wh.${rel}` : `${rel.slice(0, slash)}/.wh.${rel.slice(slash + 1)}`;
        await add({ ...base, name, type: 'file', mode: 0o600, size: 0 });
        continue;
      }
      if (info.isDirectory()) {
        await add({ ...base, name: `${rel}/`, type: 'directory' });
        if (opaque)
          await add({ ...base, name: `${rel}/.wh..wh..opq`, type: 'file', mode: info.mode & 0o777, size: 0 });
        continue;
      }
      if (info.isSymbolicLink()) {
        await add({ ...base, name: rel, type: 'symlink', linkname: await readlink(abs) });
        continue;
      }
      if (info.isFile()) {
        const key = `${info.dev}:${info.ino}`;
        const first = info.nlink > 1 ? inodes.get(key) : undefined;
        if (first) {
          await add({ ...base, name: rel, type: 'link', linkname: first });
          continue;
        }
        if (info.nlink > 1) inodes.set(key, rel);
        await new Promise<void>((resolve, reject) => {
          const entry = pack.entry({ ...base, name: rel, type: 'file', size: info.size }, (err) =>
            err ? reject(err) : resolve(),
          );
          const source = createReadStream(abs);
          source.on('error', reject);
          source.pipe(entry);
        });
        continue;
      }
      if (info.isFIFO()) await add({ ...base, name: rel, type: 'fifo' });
      else if (info.isCharacterDevice() || info.isBlockDevice())
        await add({
          ...base,
          name: rel,
          type: info.isCharacterDevice() ? 'character-device' : 'block-device',
          devmajor: Math.floor(info.rdev / 256) & 0xfff,
          devminor: (info.rdev & 0xff) | ((info.rdev >> 12) & 0xfff00),
        });
      // sockets are not archived, as in Docker
    }
    pack.finalize();
    await writing;
    const digest = `sha256:${hash.digest('hex')}`;
    if (await content.has(digest)) await rm(tmp, { force: true });
    else await rename(tmp, content.blobPath(digest));
    return { descriptor: { mediaType: mediaTypes.ociLayer, digest, size }, diffId: digest };
  } catch (error) {
    pack.destroy();
    await rm(tmp, { force: true });
    throw new EngineError('failed', `layer could not be written: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
