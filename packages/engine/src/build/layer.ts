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

/**
 * File capabilities (`security.capability`) in the tree, raw bytes by absolute path: the one xattr Docker
 * carries in layers (ping and friends depend on it). One getfattr run, values in base64.
 */
function capabilities(root: string): Map<string, Buffer> {
  const out = spawnSync(
    'getfattr',
    ['-R', '-h', '--absolute-names', '-d', '-e', 'base64', '-m', '^security\\.capability$', root],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (out.error) throw new EngineError('unavailable', `getfattr: ${out.error.message}`);
  const found = new Map<string, Buffer>();
  let current: string | undefined;
  for (const line of out.stdout.split('\n')) {
    if (line.startsWith('# file: ')) current = line.slice('# file: '.length);
    else if (current && line.startsWith('security.capability=0s'))
      found.set(current, Buffer.from(line.slice('security.capability=0s'.length), 'base64'));
  }
  return found;
}

/** A ustar header block for entries tar-stream will not write with a body (PAX extended headers). */
function ustarHeader(name: string, typeflag: string, size: number, mtime: Date): Buffer {
  const block = Buffer.alloc(512);
  const octal = (value: number, width: number) => `${value.toString(8).padStart(width - 1, '0')}\0`;
  block.write(name, 0, 100, 'utf8');
  block.write(octal(0o644, 8), 100, 'latin1');
  block.write(octal(0, 8), 108, 'latin1');
  block.write(octal(0, 8), 116, 'latin1');
  block.write(octal(size, 12), 124, 'latin1');
  block.write(octal(Math.floor(mtime.getTime() / 1000), 12), 136, 'latin1');
  block.write('        ', 148, 'latin1');
  block.write(typeflag, 156, 'latin1');
  block.write('ustar\x0000', 257, 'latin1');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

/** A PAX extended header body: `"%d %s=%s\n"` records whose length counts their own digits. */
export function paxRecords(records: [string, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
    let length = body.length + 1;
    while (String(length).length + body.length !== length) length = String(length).length + body.length;
    parts.push(Buffer.from(String(length)), body);
  }
  return Buffer.concat(parts);
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
  const caps = capabilities(dir);
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
        const cap = caps.get(abs);
        let name = rel;
        if (cap) {
          // tar-stream writes PAX values as text; binary xattrs go in a PAX header of our own, which also
          // carries the path so the entry's own header never needs a second one (readers keep only the last).
          const pax = paxRecords([
            ['path', Buffer.from(rel)],
            ['SCHILY.xattr.security.capability', cap],
          ]);
          // Between entries nothing else is being written, so the header block and its body go in as is.
          pack.push(ustarHeader('PaxHeader', 'x', pax.length, base.mtime));
          pack.push(pax);
          pack.push(Buffer.alloc((512 - (pax.length % 512)) % 512));
          if (Buffer.byteLength(rel) > 100) name = rel.slice(-90).replace(/^[^/]*\//, '');
        }
        await new Promise<void>((resolve, reject) => {
          const entry = pack.entry({ ...base, name, type: 'file', size: info.size }, (err) =>
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
