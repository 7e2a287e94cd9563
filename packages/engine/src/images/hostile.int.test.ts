import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine';
import { buildImage, buildLayer, type LayerEntry, pushImage } from '../testing/images';
import { type StartedRegistry, startRegistry } from '../testing/registry';

/**
 * Each case is a layer built to write outside its snapshot. The image goes through a real registry and a real
 * pull; afterwards the bait outside must be untouched and whatever landed must be inside the snapshot.
 */
describe('hostile layers', () => {
  let registry: StartedRegistry;
  let root: string;
  let outside: string; // a directory outside the data root that layers aim at
  let engine: Engine;
  let n = 0;

  beforeAll(async () => {
    registry = await startRegistry();
    root = await mkdtemp(join(tmpdir(), 'bt-img-root-'));
    outside = await mkdtemp(join(tmpdir(), 'bt-img-outside-'));
    engine = await Engine.open({ dataRoot: root });
  });
  afterAll(async () => {
    await engine?.close();
    await registry?.stop();
    for (const dir of [root, outside]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function pullLayer(entries: LayerEntry[]): Promise<string> {
    const reference = `${registry.host}/bt-img/hostile:${++n}`;
    await pushImage(reference, buildImage({ layers: [await buildLayer(entries)] }));
    const { Id } = await engine.images.pull(reference);
    const [dir] = engine.images.snapshotDirs(Id);
    return dir as string;
  }

  it('keeps absolute paths inside the snapshot', async () => {
    const dir = await pullLayer([{ path: `${outside}/abs-file`, content: 'x' }]);
    expect(await readdir(outside)).toEqual([]);
    expect(await readFile(join(dir, outside, 'abs-file'), 'utf8')).toBe('x');
  });

  it('clamps .. at the snapshot root', async () => {
    const dir = await pullLayer([{ path: `../../../../../../..${outside}/dotdot-file`, content: 'x' }]);
    expect(await readdir(outside)).toEqual([]);
    expect(await readFile(join(dir, outside, 'dotdot-file'), 'utf8')).toBe('x');
  });

  it('never writes through a symlink to an outside directory (absolute and relative)', async () => {
    const dir = await pullLayer([
      { path: 'abs-link', type: 'symlink', linkname: outside },
      { path: 'abs-link/pwned', content: 'x' },
      { path: 'rel-link', type: 'symlink', linkname: `../../../../../../..${outside}` },
      { path: 'rel-link/pwned', content: 'x' },
      { path: 'rel-link/sub/deeper', content: 'x' },
    ]);
    expect(await readdir(outside)).toEqual([]);
    expect(await readlink(join(dir, 'abs-link'))).toBe(outside);
    expect(await readlink(join(dir, 'rel-link'))).toBe(`../../../../../../..${outside}`);
  });

  it('replaces a symlink with a file instead of writing to its target', async () => {
    const bait = join(outside, 'bait');
    await writeFile(bait, 'original');
    try {
      const dir = await pullLayer([
        { path: 'f', type: 'symlink', linkname: bait },
        { path: 'f', content: 'replaced' },
      ]);
      expect(await readFile(bait, 'utf8')).toBe('original');
      expect((await lstat(join(dir, 'f'))).isFile()).toBe(true);
      expect(await readFile(join(dir, 'f'), 'utf8')).toBe('replaced');
    } finally {
      await rm(bait, { force: true });
    }
  });

  it('does not hardlink to files outside the snapshot, directly or through a symlink', async () => {
    const bait = join(outside, 'secret');
    await writeFile(bait, 'secret');
    try {
      const dir = await pullLayer([
        { path: 'hl-abs', type: 'link', linkname: bait },
        { path: 'hl-dotdot', type: 'link', linkname: `../../../../../../..${bait}` },
        { path: 'via', type: 'symlink', linkname: outside },
        { path: 'hl-via-symlink', type: 'link', linkname: 'via/secret' },
        { path: 'ok', content: 'ok' },
        { path: 'hl-ok', type: 'link', linkname: 'ok' },
      ]);
      expect((await lstat(bait)).nlink).toBe(1);
      for (const name of ['hl-abs', 'hl-dotdot', 'hl-via-symlink'])
        await expect(lstat(join(dir, name))).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await lstat(join(dir, 'hl-ok'))).ino).toBe((await lstat(join(dir, 'ok'))).ino);
    } finally {
      await rm(bait, { force: true });
    }
  });

  it('does not follow a symlinked directory when placing whiteouts or opaque markers', async () => {
    await mkdir(join(outside, 'victim'));
    await writeFile(join(outside, 'victim', 'keep'), 'keep');
    try {
      await pullLayer([
        { path: 'd', type: 'symlink', linkname: join(outside, 'victim') },
        { path: 'd/.wh.keep', content: '' },
        { path: 'd/.wh..wh..opq', content: '' },
      ]);
      expect(await readFile(join(outside, 'victim', 'keep'), 'utf8')).toBe('keep');
      expect((await lstat(join(outside, 'victim', 'keep'))).isFile()).toBe(true);
    } finally {
      await rm(join(outside, 'victim'), { recursive: true, force: true });
    }
  });
});
