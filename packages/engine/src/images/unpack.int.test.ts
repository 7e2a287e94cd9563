import { spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

  it('keeps binary xattrs such as security.capability byte for byte (archive made by GNU tar)', async () => {
    const src = await mkdtemp(join(tmpdir(), 'bt-img-xattr-src-'));
    try {
      // VFS_CAP_REVISION_2 with cap_net_raw permitted, as `setcap cap_net_raw+p` writes it.
      const capability = Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
      const binary = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x0a]);
      await writeFile(join(src, 'ping'), 'ping');
      await mkdir(join(src, 'dir'));
      await writeFile(join(src, 'dir', `${'long-name-'.repeat(12)}.txt`), 'long');
      const set = (name: string, value: Buffer, path: string) =>
        spawnSync('setfattr', ['-n', name, '-v', `0s${value.toString('base64')}`, path]).status;
      expect(set('security.capability', capability, join(src, 'ping'))).toBe(0);
      expect(set('user.bt-img-bin', binary, join(src, 'dir'))).toBe(0);
      const archive = join(src, 'layer.tar');
      const tarred = spawnSync('tar', [
        '--format=posix',
        '--xattrs',
        '--xattrs-include=*',
        '-C',
        src,
        '-cf',
        archive,
        'ping',
        'dir',
      ]);
      expect(tarred.status).toBe(0);
      const result = await unpackLayer(
        createReadStream(archive),
        'application/vnd.oci.image.layer.v1.tar',
        dir,
      );
      expect(result.skipped).toEqual([]);
      const get = (name: string, path: string) => {
        // --only-values prints the raw bytes.
        return spawnSync('getfattr', ['--only-values', '-n', name, path]).stdout;
      };
      expect(get('security.capability', join(dir, 'ping'))).toEqual(capability);
      expect(get('user.bt-img-bin', join(dir, 'dir'))).toEqual(binary);
      expect(await readFile(join(dir, 'dir', `${'long-name-'.repeat(12)}.txt`), 'utf8')).toBe('long');
    } finally {
      await rm(src, { recursive: true, force: true });
    }
  });

  it('fails, rather than stalls, when reading the compressed blob fails (an erroring stream stands in for a bad disk)', async () => {
    const layer = await buildLayer(entries, 'gzip');
    const { Readable } = await import('node:stream');
    const failing = new Readable({
      read() {
        this.destroy(new Error('EIO: simulated read failure'));
      },
    });
    await expect(unpackLayer(failing, layer.descriptor.mediaType, dir)).rejects.toThrow(
      /simulated read failure/,
    );
  });

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
