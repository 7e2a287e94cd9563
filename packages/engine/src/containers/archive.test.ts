import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveInRoot, statInRoot } from './archive';

describe('paths inside a container root', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bt-cp-unit-'));
    await mkdir(join(root, 'etc'), { recursive: true });
    await mkdir(join(root, 'data/sub'), { recursive: true });
    await writeFile(join(root, 'etc/hostname'), 'inside\n');
    await symlink('/etc', join(root, 'abs'));
    await symlink('../../etc', join(root, 'data/sub/rel'));
    await symlink('/../../../../etc/hostname', join(root, 'escape'));
    await symlink('loop2', join(root, 'loop1'));
    await symlink('loop1', join(root, 'loop2'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('re-roots absolute and relative links at the container root', async () => {
    expect(await resolveInRoot(root, '/abs/hostname')).toBe(join(root, 'etc/hostname'));
    expect(await resolveInRoot(root, '/data/sub/rel/hostname')).toBe(join(root, 'etc/hostname'));
    expect(await resolveInRoot(root, '/../../etc/hostname')).toBe(join(root, 'etc/hostname'));
    expect(await resolveInRoot(root, '/escape', true)).toBe(join(root, 'etc/hostname'));
  });

  it('keeps the last component a link unless asked to follow it', async () => {
    expect(await resolveInRoot(root, '/abs')).toBe(join(root, 'abs'));
    expect(await resolveInRoot(root, '/abs', true)).toBe(join(root, 'etc'));
  });

  it('stops link loops and reports Go file modes', async () => {
    await expect(resolveInRoot(root, '/loop1/x')).rejects.toThrow(/too many levels/);
    const dir = await statInRoot(root, '/abs/');
    expect(dir.stat.mode >>> 31).toBe(1);
    expect(dir.stat.mode & 0o777).toBe(0o755);
    const link = await statInRoot(root, '/abs');
    expect(link.stat.linkTarget).toBe('/etc');
    expect(link.stat.mode & (2 ** 27)).toBeTruthy();
    await expect(statInRoot(root, '/missing')).rejects.toThrow(
      'Could not find the file /missing in container',
    );
  });
});
