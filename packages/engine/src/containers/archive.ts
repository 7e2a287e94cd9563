/**
 * `docker cp`: paths inside a container resolved the way the container sees them, never the host. Every
 * symlink met on the way is read and re-rooted at the container's root by hand, because the kernel would
 * resolve an absolute link against the host's root.
 */
import { spawn } from 'node:child_process';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { EngineError } from '../errors';

const maxLinks = 40;

/**
 * Resolves `path` inside `root`: intermediate symlinks are followed within the root; the last component is
 * followed only when `followLast` (a trailing `/.` or `/` in docker cp). Returns the host path.
 */
export async function resolveInRoot(root: string, path: string, followLast = false): Promise<string> {
  if (!path.startsWith('/')) path = `/${path}`;
  let pending = posix.normalize(path).split('/').filter(Boolean);
  const resolved: string[] = [];
  let links = 0;
  while (pending.length) {
    const part = pending.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = join(root, ...resolved, part);
    const info = await lstat(candidate).catch(() => undefined);
    const isLast = pending.length === 0;
    if (info?.isSymbolicLink() && (!isLast || followLast)) {
      if (++links > maxLinks)
        throw new EngineError('invalid_argument', `too many levels of symbolic links: ${path}`);
      const target = await readlink(candidate);
      const parts = target.split('/').filter(Boolean);
      if (target.startsWith('/')) resolved.length = 0;
      pending = [...parts, ...pending];
      continue;
    }
    resolved.push(part);
  }
  return join(root, ...resolved);
}

/** Go's os.FileMode bits, which the docker CLI reads from the stat header. */
function goFileMode(mode: number): number {
  const perm = mode & 0o777;
  let out = perm;
  const type = mode & 0o170000;
  if (type === 0o040000) out |= 2 ** 31;
  else if (type === 0o120000) out |= 2 ** 27;
  else if (type === 0o010000) out |= 2 ** 25;
  else if (type === 0o140000) out |= 2 ** 24;
  else if (type === 0o020000) out |= 2 ** 26 + 2 ** 21;
  else if (type === 0o060000) out |= 2 ** 26;
  if (mode & 0o4000) out |= 2 ** 23;
  if (mode & 0o2000) out |= 2 ** 22;
  if (mode & 0o1000) out |= 2 ** 20;
  // JavaScript's bitwise operators work on int32; the directory bit (1 << 31) needs the unsigned view.
  return out >>> 0;
}

export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

export async function statInRoot(root: string, path: string): Promise<{ hostPath: string; stat: PathStat }> {
  const followLast = path.endsWith('/') || path.endsWith('/.');
  const hostPath = await resolveInRoot(root, path, followLast);
  const info = await lstat(hostPath).catch(() => undefined);
  if (!info) throw new EngineError('not_found', `Could not find the file ${path} in container`);
  const linkTarget = info.isSymbolicLink() ? await readlink(hostPath) : '';
  return {
    hostPath,
    stat: {
      name: basename(path.replace(/\/\.?$/, '')) || '/',
      size: info.size,
      mode: goFileMode(info.mode),
      mtime: info.mtime.toISOString(),
      linkTarget,
    },
  };
}

/**
 * A tar stream of the resolved path, its top entry named like the path's last component. The container's root
 * itself is `/` with every name under it absolute (`/`, `/bin/`, `/bin/sh`), as dockerd archives it, so the CLI
 * rebases `docker cp ctr:/ out` onto `out/`.
 */
export function tarPath(hostPath: string, options: { root?: boolean } = {}): Readable {
  return runTar(
    options.root
      ? // -P keeps the names absolute; S leaves symlink targets as they are.
        ['-P', '--transform', 's,^\\./,/,S;s,^\\.$,/,S', '-C', hostPath, '-cf', '-', '.']
      : ['-C', dirname(hostPath), '-cf', '-', basename(hostPath)],
  );
}

/** `docker export`: the whole filesystem of a container as one tar, names relative to its root (`bin/sh`). */
export async function tarRoot(root: string): Promise<Readable> {
  const names = (await readdir(root)).sort();
  return runTar(['-C', root, '-cf', '-', '--', ...names]);
}

function runTar(args: string[]): Readable {
  const child = spawn('tar', ['--numeric-owner', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 2000) stderr += d.toString();
  });
  child.once('close', (code) => {
    if (code !== 0)
      child.stdout.destroy(new EngineError('failed', `tar: ${stderr.trim() || `exit ${code}`}`));
  });
  return child.stdout;
}
