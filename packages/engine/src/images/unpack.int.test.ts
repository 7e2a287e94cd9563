import { spawnSync } from 'node:child_process';
import { lstat, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildLayer, type Compression, type LayerEntry } from '../testing/images';
import { cleanEntryPath, unpackLayer } from './unpack';

const when = new Date('2023-06-01T12:00:00Z');

const entries: LayerEntry[] = [
  { path: 'dev/', type: 'directory', mtime: when },
  { path: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
  { path: 'dev/loop9', type: 'block-device', devmajor: 7, devminor: 9, mode: 0o660, gid: 6 },
  { path: 'dev/pipe', type: 'fifo', mode: 0o600 },
  { path: 'bin/', type: 'directory', mtime: when },
  { path: 'bin/su', content: 'x', mode: 0o4755 },
  { path: 'bin/tagged', content: 'x', xattrs: { 'user.bt-img': 'hello' } },
  { path: 'bin/link', type: 'symlink', linkname: 'su', uid: 1000, gid: 1000, mtime: when },
];

describe('unpackLayer', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bt-img-unpack-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each<Compression>(['gzip', 'zstd', 'none'])(
    'keeps devices, fifos, modes, owners, xattrs and mtimes (%s)',
    async (compression) => {
      const layer = await buildLayer(entries, compression);
      const result = await unpackLayer(layer.open(), layer.descriptor.mediaType, dir);
      expect(result.diffId).toBe(layer.diffId);
      expect(result.skipped).toEqual([]);
      const nul = await lstat(join(dir, 'dev/null'));
      expect(nul.isCharacterDevice()).toBe(true);
      expect(nul.rdev).toBe((1 << 8) | 3);
      expect(nul.mode & 0o7777).toBe(0o666);
      const loop = await lstat(join(dir, 'dev/loop9'));
      expect([loop.isBlockDevice(), loop.gid, loop.mode & 0o7777]).toEqual([true, 6, 0o660]);
      expect((await lstat(join(dir, 'dev/pipe'))).isFIFO()).toBe(true);
      expect((await lstat(join(dir, 'bin/su'))).mode & 0o7777).toBe(0o4755);
      const xattr = spawnSync('getfattr', ['--only-values', '-n', 'user.bt-img', join(dir, 'bin/tagged')], {
        encoding: 'utf8',
      });
      expect(xattr.stdout).toBe('hello');
      const link = await lstat(join(dir, 'bin/link'));
      expect([link.isSymbolicLink(), link.uid, link.gid, link.mtime.toISOString()]).toEqual([
        true,
        1000,
        1000,
        when.toISOString(),
      ]);
      expect((await lstat(join(dir, 'dev'))).mtime.toISOString()).toBe(when.toISOString());
      expect(await readFile(join(dir, 'bin/su'), 'utf8')).toBe('x');
    },
  );

  it('fails on a corrupt gzip stream instead of unpacking half', async () => {
    const layer = await buildLayer(entries, 'gzip');
    const { Readable } = await import('node:stream');
    const chunks: Buffer[] = [];
    for await (const chunk of layer.open()) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    const broken = bytes.subarray(0, Math.floor(bytes.length / 2));
    await expect(unpackLayer(Readable.from([broken]), layer.descriptor.mediaType, dir)).rejects.toThrow();
  });
});

describe('cleanEntryPath', () => {
  it.each([
    ['a/b/c', ['a', 'b', 'c']],
    ['/etc/passwd', ['etc', 'passwd']],
    ['./x/./y/', ['x', 'y']],
    ['../../etc/shadow', ['etc', 'shadow']],
    ['a/../../b', ['b']],
    ['..', []],
  ])('%s', (input, parts) => {
    expect(cleanEntryPath(input)).toEqual(parts);
  });
});
