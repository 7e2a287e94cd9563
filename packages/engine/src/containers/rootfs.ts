/**
 * A container's root filesystem: overlayfs with the image's snapshots and the container's "init" layer
 * (empty mount points for /etc/hosts and friends, so they do not show up as changes) as lower dirs, and a
 * per-container upper dir.
 */
import { execFile } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineError } from '../errors';

function run(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 30_000 }, (error, _stdout, stderr) => {
      if (error)
        reject(new EngineError('failed', `${file} ${args[0] ?? ''}: ${(stderr || error.message).trim()}`));
      else resolve();
    });
  });
}

export interface RootfsLayout {
  dir: string; // the container directory
  init: string;
  upper: string;
  work: string;
  merged: string;
}

export function rootfsLayout(containerDir: string): RootfsLayout {
  return {
    dir: containerDir,
    init: join(containerDir, 'init'),
    upper: join(containerDir, 'upper'),
    work: join(containerDir, 'work'),
    merged: join(containerDir, 'rootfs'),
  };
}

/** Mount points the runtime creates at start; made in the init layer so the upper dir stays clean. */
export async function prepareInitLayer(layout: RootfsLayout): Promise<void> {
  // Only what every image has anyway: a directory here hides the image's own attributes for that path.
  for (const dir of ['dev', 'proc', 'sys', 'etc'])
    await mkdir(join(layout.init, dir), { recursive: true, mode: 0o755 });
  for (const file of ['etc/hosts', 'etc/hostname', 'etc/resolv.conf'])
    await writeFile(join(layout.init, file), '');
  // The upper dir's own mode becomes the mode of the container's `/`: it must be traversable by every user.
  await mkdir(layout.upper, { recursive: true, mode: 0o755 });
  await mkdir(layout.merged, { recursive: true, mode: 0o755 });
  await mkdir(layout.work, { recursive: true, mode: 0o700 });
}

export async function isMounted(path: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[4] === path);
}

/** The overlay's mount options: the init layer over the image's snapshots, and the container's own upper dir. */
export function overlayOptions(layout: RootfsLayout, imageDirs: string[]): string[] {
  return [
    `lowerdir=${[layout.init, ...imageDirs].join(':')}`,
    `upperdir=${layout.upper}`,
    `workdir=${layout.work}`,
  ];
}

/**
 * The container's filesystem mounted on the host, for reading or copying while no process runs (a running
 * container's own overlay lives in its mount namespace only; runc mounts it there).
 */
export async function mountRootfs(layout: RootfsLayout, imageDirs: string[]): Promise<void> {
  if (await isMounted(layout.merged)) return;
  await run('mount', [
    '-t',
    'overlay',
    'overlay',
    '-o',
    overlayOptions(layout, imageDirs).join(','),
    layout.merged,
  ]);
}

export async function unmountRootfs(layout: RootfsLayout): Promise<void> {
  // Mostly nothing is mounted (a running container's overlay is in its own namespace): the table is cheaper
  // to read than an umount to spawn.
  if (!(await isMounted(layout.merged))) return;
  try {
    await run('umount', [layout.merged]);
  } catch (error) {
    if (/not mounted|no mount point/i.test((error as Error).message)) return;
    if (!(await isMounted(layout.merged))) return;
    await run('umount', ['-l', layout.merged]);
  }
}

export interface Change {
  Path: string;
  Kind: 0 | 1 | 2; // modified, added, deleted
}

/** `docker diff`: what the upper dir holds, compared with the image's layers. */
export async function listChanges(layout: RootfsLayout, imageDirs: string[]): Promise<Change[]> {
  const changes: Change[] = [];
  const existsBelow = async (relative: string) => {
    for (const dir of imageDirs)
      if (
        await lstat(join(dir, relative)).then(
          () => true,
          () => false,
        )
      )
        return true;
    return false;
  };
  const walk = async (relative: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(join(layout.upper, relative), { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      const info = await lstat(join(layout.upper, path));
      if (info.isCharacterDevice() && info.rdev === 0) {
        changes.push({ Path: `/${path}`, Kind: 2 });
        continue;
      }
      const below = await existsBelow(path);
      if (entry.isDirectory()) {
        if (below) {
          changes.push({ Path: `/${path}`, Kind: 0 });
          await walk(path);
        } else {
          changes.push({ Path: `/${path}`, Kind: 1 });
          await walkAdded(path);
        }
      } else changes.push({ Path: `/${path}`, Kind: below ? 0 : 1 });
    }
  };
  const walkAdded = async (relative: string) => {
    for (const entry of await readdir(join(layout.upper, relative), { withFileTypes: true })) {
      const path = `${relative}/${entry.name}`;
      changes.push({ Path: `/${path}`, Kind: 1 });
      if (entry.isDirectory()) await walkAdded(path);
    }
  };
  await walk('');
  return changes.sort((a, b) => a.Path.localeCompare(b.Path));
}
