/**
 * COPY and ADD: sources picked from the build context (or another stage's or image's filesystem) with Go's
 * filepath.Match globs and .dockerignore, their content checksum for the cache key, and the copy itself into
 * a mounted overlay of the step's parent, as Docker's classic builder does: a directory source copies its
 * contents, file modes and mtimes are kept, owners are 0:0 unless --chown, --chmod replaces modes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import {
  chmod,
  copyFile,
  lchown,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  utimes,
} from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { resolveInRoot } from '../containers/archive';
import { EngineError } from '../errors';
import { globToRegExp, type IgnoreMatcher } from './ignore';

export interface Source {
  /** Path relative to the source root, `/`-separated ('' for the root itself). */
  rel: string;
  abs: string;
  /** Downloaded by ADD from a URL: never unpacked, as Docker leaves remote archives alone. */
  remote?: boolean;
}

const globChars = /[*?[\\]/;

/** Cleans a source path; context paths may not climb out of the context. */
export function cleanSource(path: string, confined: boolean): string {
  const normal = posix.normalize(path.startsWith('/') ? path.slice(1) || '.' : path);
  if (confined && (normal === '..' || normal.startsWith('../')))
    throw new EngineError('invalid_argument', `forbidden path outside the build context: ${path}`);
  const clean = posix.normalize(`/${normal}`).slice(1);
  return clean === '.' ? '' : clean;
}

async function walkAll(root: string, ignore: IgnoreMatcher | undefined): Promise<string[]> {
  const out: string[] = [];
  const visit = async (rel: string) => {
    const names = (await readdir(rel ? join(root, rel) : root).catch(() => [] as string[])).sort();
    for (const name of names) {
      const child = rel ? `${rel}/${name}` : name;
      const excluded = ignore?.excludes(child) ?? false;
      if (!excluded) out.push(child);
      const info = await lstat(join(root, child));
      if (info.isDirectory() && (!excluded || ignore?.hasExceptions)) await visit(child);
    }
  };
  await visit('');
  return out;
}

/** The sources a COPY names, globs expanded; a named path that is missing or ignored is an error. */
export async function expandSources(
  root: string,
  paths: string[],
  options: { ignore?: IgnoreMatcher; confined: boolean; where: string },
): Promise<Source[]> {
  const out: Source[] = [];
  let all: string[] | undefined;
  for (const path of paths) {
    const clean = cleanSource(path, options.confined);
    if (globChars.test(clean)) {
      all ??= await walkAll(root, options.ignore);
      const re = globToRegExp(clean);
      const matched = all.filter((rel) => re.test(rel));
      for (const rel of matched) out.push({ rel, abs: join(root, rel) });
      continue;
    }
    if (clean !== '' && options.ignore?.excludes(clean))
      throw new EngineError(
        'not_found',
        `file not found in ${options.where} or excluded by .dockerignore: stat ${path}: file does not exist`,
      );
    const abs = await resolveInRoot(root, clean, true);
    if (!(await lstat(abs).catch(() => undefined)))
      throw new EngineError(
        'not_found',
        `file not found in ${options.where} or excluded by .dockerignore: stat ${path}: file does not exist`,
      );
    out.push({ rel: clean, abs });
  }
  if (out.length === 0) throw new EngineError('not_found', 'no source files were specified');
  return out;
}

export interface Identity {
  uid: number;
  gid: number;
}

/** Every file under the sources, as the copy will see them (ignored files left out). */
async function filesUnder(source: Source, ignore: IgnoreMatcher | undefined): Promise<string[]> {
  const info = await lstat(source.abs);
  if (!info.isDirectory()) return [source.abs];
  const out: string[] = [source.abs];
  const visit = async (abs: string, rel: string) => {
    for (const name of (await readdir(abs)).sort()) {
      const childRel = rel ? `${rel}/${name}` : name;
      const childAbs = join(abs, name);
      if (ignore?.excludes(childRel)) {
        const st = await lstat(childAbs);
        if (!(st.isDirectory() && ignore.hasExceptions)) continue;
        await visit(childAbs, childRel);
        continue;
      }
      out.push(childAbs);
      if ((await lstat(childAbs)).isDirectory()) await visit(childAbs, childRel);
    }
  };
  await visit(source.abs, source.rel);
  return out;
}

/**
 * Checksum of what a COPY would bring: names, types, modes, link targets and content, not mtimes (as
 * Docker's tarsum leaves them out, so a touched file still hits the cache). File hashes are remembered by
 * inode, size and mtime within the process.
 */
export class SourceHasher {
  readonly #known = new Map<string, string>();

  async checksum(sources: Source[], ignore?: IgnoreMatcher): Promise<string> {
    const entries: { source: Source; abs: string; info: Stats; digest?: string }[] = [];
    for (const source of sources)
      for (const abs of await filesUnder(source, ignore))
        entries.push({ source, abs, info: await lstat(abs) });
    // Many small files: reading them a few at a time hides the per-file latency of open, read and close.
    await eachLimited(
      entries.filter((e) => e.info.isFile()),
      8,
      async (entry) => {
        const { abs, info } = entry;
        const key = `${abs}\0${info.ino}\0${info.size}\0${info.mtimeMs}`;
        let digest = this.#known.get(key);
        if (!digest) {
          const hash = createHash('sha256');
          // Small files in one read; big ones streamed, never whole in memory.
          if (info.size <= 4 * 1024 * 1024) hash.update(await readFile(abs));
          else
            for await (const chunk of createReadStream(abs, { highWaterMark: 1024 * 1024 }))
              hash.update(chunk as Buffer);
          digest = hash.digest('hex');
          this.#known.set(key, digest);
        }
        entry.digest = digest;
      },
    );
    const total = createHash('sha256');
    for (const { source, abs, info, digest } of entries) {
      const rel = abs.slice(source.abs.length);
      total.update(`${source.rel}\0${rel}\0${info.mode}\0${info.uid}:${info.gid}\0`);
      if (info.isSymbolicLink()) total.update(await readlink(abs));
      else if (digest) total.update(digest);
      total.update('\n');
    }
    return total.digest('hex');
  }
}

export interface CopyOptions {
  ignore?: IgnoreMatcher;
  identity?: Identity;
  chmod?: number;
  /** ADD: local tar archives (plain, gzip, bzip2, xz) are unpacked into the destination. */
  extractArchives?: boolean;
}

/** Runs a worker over items with a few at a time: copying many small files is latency-bound. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

async function mkdirParents(root: string, destAbs: string, identity: Identity | undefined): Promise<void> {
  const missing: string[] = [];
  let current = destAbs;
  while (current.startsWith(root) && current !== root && !(await lstat(current).catch(() => undefined))) {
    missing.unshift(current);
    current = dirname(current);
  }
  for (const dir of missing) {
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755);
    if (identity) await lchown(dir, identity.uid, identity.gid);
  }
}

async function copyEntry(
  srcAbs: string,
  destAbs: string,
  rel: string,
  options: CopyOptions,
  dirTimes: { path: string; mtime: Date }[],
): Promise<void> {
  const info = await lstat(srcAbs);
  const uid = options.identity?.uid ?? 0;
  const gid = options.identity?.gid ?? 0;
  const existing = await lstat(destAbs).catch(() => undefined);
  if (info.isDirectory()) {
    if (existing && !existing.isDirectory()) await rm(destAbs, { force: true });
    if (!existing?.isDirectory()) await mkdir(destAbs);
    await chmod(destAbs, options.chmod ?? info.mode & 0o7777);
    await lchown(destAbs, uid, gid);
    dirTimes.push({ path: destAbs, mtime: info.mtime });
    const names = (await readdir(srcAbs)).sort();
    const children: string[] = [];
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name;
      if (options.ignore?.excludes(childRel)) {
        const st = await lstat(join(srcAbs, name));
        if (!(st.isDirectory() && options.ignore.hasExceptions)) continue;
      }
      children.push(name);
    }
    await eachLimited(children, 8, (name) =>
      copyEntry(join(srcAbs, name), join(destAbs, name), rel ? `${rel}/${name}` : name, options, dirTimes),
    );
    return;
  }
  if (existing) await rm(destAbs, { recursive: true, force: true });
  if (info.isSymbolicLink()) {
    await symlink(await readlink(srcAbs), destAbs);
    await lchown(destAbs, uid, gid);
    await lutimes(destAbs, info.mtime, info.mtime);
    return;
  }
  if (!info.isFile()) return; // devices, fifos and sockets in a context are not copied
  await copyFile(srcAbs, destAbs);
  await chmod(destAbs, options.chmod ?? info.mode & 0o7777);
  await lchown(destAbs, uid, gid);
  await utimes(destAbs, info.mtime, info.mtime);
}

async function archiveKind(path: string): Promise<'tar' | 'compressed' | undefined> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(1024);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    const bytes = head.subarray(0, bytesRead);
    const isTar = (b: Buffer) => b.length >= 262 && b.toString('latin1', 257, 262) === 'ustar';
    if (isTar(bytes)) return 'tar';
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
      // Only a gzip that holds a tar is unpacked; any other gzip is copied as a file, as Docker does.
      try {
        const whole = await readFile(path);
        return isTar(gunzipSync(whole, { finishFlush: 2 }).subarray(0, 512)) ? 'compressed' : undefined;
      } catch {
        return undefined;
      }
    }
    if (bytes.toString('latin1', 0, 3) === 'BZh') return 'compressed';
    if (bytes.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'compressed';
    return undefined;
  } finally {
    await file.close();
  }
}

function untar(archive: string, dest: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', ['-x', '--numeric-owner', '-p', '-f', archive, '-C', dest], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 2000) stderr += d;
    });
    child.on('error', (error) => reject(new EngineError('unavailable', `tar: ${error.message}`)));
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new EngineError('failed', `extracting ${archive}: ${stderr.trim()}`)),
    );
  });
}

/**
 * Copies `sources` to `dest` (absolute inside the container) under `rootfs`, the mounted overlay of the
 * step's parent. Paths inside the destination are resolved the way the container sees them.
 */
export async function copySources(
  rootfs: string,
  sources: Source[],
  dest: string,
  options: CopyOptions,
): Promise<void> {
  const destIsDir = dest.endsWith('/') || dest.endsWith('/.');
  if (sources.length > 1 && !destIsDir)
    throw new EngineError(
      'invalid_argument',
      'When using COPY with more than one source file, the destination must be a directory and end with a /',
    );
  const destAbs = await resolveInRoot(rootfs, dest, true);
  const destInfo = await lstat(destAbs).catch(() => undefined);
  const intoDir = destIsDir || destInfo?.isDirectory() === true;
  const dirTimes: { path: string; mtime: Date }[] = [];
  for (const source of sources) {
    const info = await lstat(source.abs);
    if (info.isDirectory()) {
      await mkdirParents(rootfs, destAbs, options.identity);
      if (!(await lstat(destAbs).catch(() => undefined))?.isDirectory()) {
        await rm(destAbs, { force: true });
        await mkdir(destAbs, { mode: 0o755 });
      }
      const names = (await readdir(source.abs)).sort();
      const kept: string[] = [];
      for (const name of names) {
        const rel = source.rel ? `${source.rel}/${name}` : name;
        if (options.ignore?.excludes(rel)) {
          // An excluded directory is still walked when an exception pattern may bring back a child.
          const st = await lstat(join(source.abs, name));
          if (!(st.isDirectory() && options.ignore.hasExceptions)) continue;
        }
        kept.push(name);
      }
      await eachLimited(kept, 8, (name) =>
        copyEntry(
          join(source.abs, name),
          join(destAbs, name),
          source.rel ? `${source.rel}/${name}` : name,
          options,
          dirTimes,
        ),
      );
      continue;
    }
    if (options.extractArchives && !source.remote && info.isFile() && (await archiveKind(source.abs))) {
      await mkdirParents(rootfs, destAbs, options.identity);
      if (!(await lstat(destAbs).catch(() => undefined))) await mkdir(destAbs, { mode: 0o755 });
      await untar(source.abs, destAbs);
      continue;
    }
    const name = posix.basename(source.rel || source.abs);
    const target = intoDir ? join(destAbs, name) : destAbs;
    await mkdirParents(rootfs, dirname(target), options.identity);
    await copyEntry(source.abs, target, source.rel, options, dirTimes);
  }
  // Children touched their directories' mtimes; restore the sources' times last, deepest first.
  for (const { path, mtime } of dirTimes.reverse()) await utimes(path, mtime, mtime);
}

/** `--chown=user:group` against the image's /etc/passwd and /etc/group (numeric ids need neither). */
export async function resolveIdentity(rootfs: string, spec: string): Promise<Identity> {
  const [userPart = '', groupPart] = spec.split(':');
  const lookup = async (file: string, name: string, field: number): Promise<number | undefined> => {
    const text = await readFile(await resolveInRoot(rootfs, file, true), 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      const parts = line.split(':');
      if (parts[0] === name) return Number(parts[field]);
    }
    return undefined;
  };
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(userPart)) uid = Number(userPart);
  else {
    const found = await lookup('/etc/passwd', userPart, 2);
    if (found === undefined)
      throw new EngineError(
        'invalid_argument',
        `unable to find user ${userPart}: no matching entries in passwd file`,
      );
    uid = found;
  }
  if (groupPart !== undefined) {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const found = await lookup('/etc/group', groupPart, 2);
      if (found === undefined)
        throw new EngineError(
          'invalid_argument',
          `unable to find group ${groupPart}: no matching entries in group file`,
        );
      gid = found;
    }
  }
  return { uid, gid: gid ?? uid };
}

/**
 * ADD of a URL: the body saved as a file named after the URL's last path component (mode 0600, mtime from
 * Last-Modified when the server sends one), as Docker's classic builder does.
 */
export async function downloadSource(url: string, dir: string, signal?: AbortSignal): Promise<Source> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new EngineError('invalid_argument', `invalid URL ${url}`);
  }
  const name = posix.basename(parsed.pathname);
  if (!name) throw new EngineError('invalid_argument', `cannot determine filename from url: ${url}`);
  let response: Response;
  try {
    response = await fetch(parsed, { redirect: 'follow', ...(signal ? { signal } : {}) });
  } catch (error) {
    throw new EngineError('unavailable', `ADD ${url}: ${(error as Error).message}`, { cause: error });
  }
  if (!response.ok)
    throw new EngineError(
      'failed',
      `ADD ${url}: the server answered ${response.status} ${response.statusText}`,
    );
  const abs = join(dir, name);
  const file = await open(abs, 'wx', 0o600);
  try {
    if (response.body)
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>)
        await file.write(chunk);
  } finally {
    await file.close();
  }
  const modified = Date.parse(response.headers.get('last-modified') ?? '');
  if (!Number.isNaN(modified)) await utimes(abs, new Date(modified), new Date(modified));
  return { rel: name, abs, remote: true };
}

const epoch = new Date(0);

/**
 * Keeps a step's layer reproducible: the directories along `path` get back the times they had before the
 * step wrote below them, and those the step created get the Unix epoch, so the same sources give the same
 * layer digest on every build (copied files and directories keep their own times, as with Docker).
 */
export async function pinAncestorTimes(rootfs: string, path: string): Promise<() => Promise<void>> {
  const target = await resolveInRoot(rootfs, path, true);
  const chain: string[] = [];
  for (let p = target; p.startsWith(`${rootfs}/`); p = dirname(p)) chain.push(p);
  const before = new Map<string, Date | undefined>();
  for (const p of chain) before.set(p, (await lstat(p).catch(() => undefined))?.mtime);
  return async () => {
    for (const p of chain) {
      const info = await lstat(p).catch(() => undefined);
      if (!info?.isDirectory()) continue;
      const time = before.get(p) ?? epoch;
      await utimes(p, time, time);
    }
  };
}
