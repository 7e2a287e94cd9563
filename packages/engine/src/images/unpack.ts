import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, rm, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { EngineError } from '../errors';
import { mediaTypes } from './oci';
import { PaxXattrTracker } from './pax';

export interface UnpackResult {
  diffId: string; // sha256 of the uncompressed tar
  size: number; // uncompressed bytes
  skipped: string[]; // entries neutralised because they tried to escape the snapshot
}

/** Runs a helper binary with an argument array; missing binaries are `unavailable`, failures `failed`. */
export function runTool(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 2000) stderr += d;
    });
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new EngineError('unavailable', `${command} is not installed`)
          : new EngineError('failed', `${command} failed to start: ${error.message}`),
      ),
    );
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new EngineError('failed', `${command} exited ${code}: ${stderr.trim()}`)),
    );
  });
}

function decompress(source: Readable, mediaType: string): { stream: Readable; done: Promise<void> } {
  if (mediaType === mediaTypes.ociLayer || mediaType.endsWith('.tar') || mediaType.endsWith('diff.tar')) {
    return { stream: source, done: Promise.resolve() };
  }
  if (mediaType.endsWith('+zstd') || mediaType.endsWith('.zstd')) {
    // Node 20's zlib has no zstd; Debian's zstd binary streams it at memory speed.
    const child = spawn('zstd', ['-dc', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 2000) stderr += d;
    });
    const out = new PassThrough({ highWaterMark: 1024 * 1024 });
    const exited = new Promise<void>((resolve, reject) => {
      child.on('error', (error: NodeJS.ErrnoException) =>
        reject(new EngineError(error.code === 'ENOENT' ? 'unavailable' : 'failed', `zstd: ${error.message}`)),
      );
      child.on('close', (code) =>
        code === 0
          ? resolve()
          : reject(new EngineError('failed', `zstd -dc exited ${code}: ${stderr.trim()}`)),
      );
    });
    const feeding = pipeline(source, child.stdin);
    child.stdout.pipe(out);
    child.stdout.on('error', (error) => out.destroy(error));
    const done = Promise.all([feeding, exited]).then(() => undefined);
    done.catch((error) => out.destroy(error));
    return { stream: out, done };
  }
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  // pipe() does not forward errors: a failed read of the blob must fail the unpack, not stall it.
  source.on('error', (error) => gunzip.destroy(error));
  return { stream: source.pipe(gunzip), done: Promise.resolve() };
}

/** What a layer blob decompresses to, as a diff ID, without unpacking it. */
export async function layerDiffId(source: Readable, mediaType: string): Promise<string> {
  const { stream, done } = decompress(source, mediaType);
  const hash = createHash('sha256');
  for await (const chunk of stream as AsyncIterable<Buffer>) hash.update(chunk);
  await done;
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Splits a tar path into components inside the snapshot: leading `/` and `.` dropped, `..` clamped at the
 * root the way containerd does, so no name can reach above the snapshot.
 */
export function cleanEntryPath(name: string): string[] {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out;
}

/**
 * Unpacks one layer into `dir` (empty, on the same filesystem as the final snapshot) as an overlay lower
 * layer: `.wh.NAME` becomes a 0/0 character device, `.wh..wh..opq` sets trusted.overlay.opaque=y. Entries
 * whose parent is a symlink, hardlinks to targets outside the snapshot, and `..` games are neutralised (skipped
 * or clamped) so nothing is written outside `dir`. Returns the diffID for the caller to verify.
 */
export async function unpackLayer(source: Readable, mediaType: string, dir: string): Promise<UnpackResult> {
  const { stream, done: decompressDone } = decompress(source, mediaType);
  const hash = createHash('sha256');
  const xattrs = new PaxXattrTracker();
  let size = 0;
  const hasher = new Transform({
    highWaterMark: 1024 * 1024,
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      xattrs.push(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  const extract = tar.extract();
  const piping = pipeline(stream, hasher, extract);
  piping.catch(() => {}); // surfaced through the iterator below and awaited at the end
  decompressDone.catch(() => {});

  const knownDirs = new Set<string>(['']);
  const dirTimes: { path: string; mtime: Date }[] = [];
  const skipped: string[] = [];

  /** Makes sure every parent of `parts` is a real directory inside dir; false if a symlink is in the way. */
  async function ensureParents(parts: string[]): Promise<boolean> {
    for (let i = 1; i < parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      if (knownDirs.has(rel)) continue;
      const abs = join(dir, rel);
      const st = await lstat(abs).catch(() => undefined);
      if (!st) await mkdir(abs, { mode: 0o755 });
      else if (!st.isDirectory()) return false; // a symlink (or file) as parent: following it could escape
      knownDirs.add(rel);
    }
    return true;
  }

  /** Clears whatever is at `abs` so a new entry can take its place, as tar does on overwrite. */
  async function clear(rel: string, abs: string, keepDir: boolean): Promise<void> {
    const st = await lstat(abs).catch(() => undefined);
    if (!st) return;
    if (st.isDirectory()) {
      if (keepDir) return;
      for (const known of knownDirs)
        if (known === rel || known.startsWith(`${rel}/`)) knownDirs.delete(known);
    }
    await rm(abs, { recursive: true, force: true });
  }

  try {
    let index = -1;
    for await (const entry of extract) {
      index++;
      const header = entry.header;
      const parts = cleanEntryPath(header.name);
      const rel = parts.join('/');
      const abs = rel === '' ? dir : join(dir, rel);
      const base = parts[parts.length - 1] ?? '';
      const mode = (header.mode ?? 0o644) & 0o7777;
      const uid = header.uid ?? 0;
      const gid = header.gid ?? 0;
      const mtime = header.mtime ?? new Date(0);
      try {
        if (rel !== '' && !(await ensureParents(parts))) {
          skipped.push(header.name);
          continue;
        }
        if (base.startsWith('.wh.')) {
          if (base === '.wh..wh..opq') {
            const parent = parts.slice(0, -1).join('/');
            await runTool('setfattr', [
              '-n',
              'trusted.overlay.opaque',
              '-v',
              'y',
              parent === '' ? dir : join(dir, parent),
            ]);
          } else {
            const target = join(dir, ...parts.slice(0, -1), base.slice(4));
            await clear(parts.slice(0, -1).concat(base.slice(4)).join('/'), target, false);
            await runTool('mknod', ['-m', '000', target, 'c', '0', '0']);
          }
          continue;
        }
        switch (header.type) {
          case 'directory': {
            if (rel !== '') {
              await clear(rel, abs, true);
              await mkdir(abs, { mode }).catch((e: NodeJS.ErrnoException) => {
                if (e.code !== 'EEXIST') throw e;
              });
              knownDirs.add(rel);
            }
            await lchown(abs, uid, gid);
            await chmod(abs, mode);
            dirTimes.push({ path: abs, mtime });
            break;
          }
          case 'file':
          case 'contiguous-file': {
            if (rel === '') break;
            await clear(rel, abs, false);
            // O_NOFOLLOW|O_EXCL: even if something raced a symlink into place, we never write through it.
            const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
            const file = await open(abs, flags, 0o600);
            try {
              for await (const chunk of entry as AsyncIterable<Buffer>) {
                let off = 0;
                while (off < chunk.length) off += (await file.write(chunk, off)).bytesWritten;
              }
              await file.chown(uid, gid);
              await file.chmod(mode);
              await file.utimes(mtime, mtime);
            } finally {
              await file.close();
            }
            break;
          }
          case 'symlink': {
            if (rel === '') break;
            await clear(rel, abs, false);
            await symlink(header.linkname ?? '', abs);
            await lchown(abs, uid, gid);
            await lutimes(abs, mtime, mtime);
            break;
          }
          case 'link': {
            if (rel === '') break;
            const targetParts = cleanEntryPath(header.linkname ?? '');
            const targetRel = targetParts.join('/');
            if (targetRel === '' || !(await ensureParents(targetParts))) {
              skipped.push(header.name);
              break;
            }
            const target = join(dir, targetRel);
            const st = await lstat(target).catch(() => undefined);
            if (!st || st.isDirectory()) {
              skipped.push(header.name);
              break;
            }
            await clear(rel, abs, false);
            await link(target, abs);
            break;
          }
          case 'character-device':
          case 'block-device':
          case 'fifo': {
            if (rel === '') break;
            await clear(rel, abs, false);
            const kind =
              header.type === 'fifo'
                ? ['p']
                : [
                    header.type === 'character-device' ? 'c' : 'b',
                    String(header.devmajor ?? 0),
                    String(header.devminor ?? 0),
                  ];
            await runTool('mknod', ['-m', mode.toString(8), abs, ...kind]);
            await lchown(abs, uid, gid);
            await chmod(abs, mode);
            await lutimes(abs, mtime, mtime);
            break;
          }
          default:
            break;
        }
        const raw = xattrs.entries[index];
        if (rel !== '' && raw) {
          for (const [name, value] of raw) {
            await runTool('setfattr', ['-h', '-n', name, '-v', `0s${value.toString('base64')}`, abs]);
          }
        }
      } finally {
        entry.resume();
      }
    }
    await piping;
    await decompressDone;
  } catch (error) {
    source.destroy();
    extract.destroy();
    if (EngineError.is(error)) throw error;
    throw new EngineError('failed', `layer could not be unpacked: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // Children touched the directories' mtimes; set them last, deepest first.
  for (const { path, mtime } of dirTimes.reverse()) await utimes(path, mtime, mtime);
  return { diffId: `sha256:${hash.digest('hex')}`, size, skipped };
}
