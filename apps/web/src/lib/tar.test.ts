import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { normalizeContextPath, tarParts } from './tar';

describe('tar packing of a build context', () => {
  it('writes an archive GNU tar lists and extracts byte for byte, long paths included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bt-tar-'));
    try {
      const long = `${'deep/'.repeat(30)}file.txt`;
      const binary = new Uint8Array(1500).map((_, i) => (i * 7) % 256);
      const file = (path: string, body: Uint8Array) => ({ path, body, size: body.length });
      const parts = tarParts([
        { ...file('Dockerfile', new TextEncoder().encode('FROM busybox\n')), mtime: 1_700_000_000 },
        { ...file('src/app.bin', binary), mode: 0o755 },
        file(long, new TextEncoder().encode('far down\n')),
      ]);
      const archive = Buffer.concat(parts);
      expect(archive.length % 512).toBe(0);
      await writeFile(join(dir, 'ctx.tar'), archive);
      const listing = execFileSync('tar', ['-tvf', join(dir, 'ctx.tar')], { encoding: 'utf8' });
      expect(listing).toMatch(/^-rw-r--r-- 0\/0 +13 2023-11-14 \S+ Dockerfile$/m);
      expect(listing).toMatch(/^-rwxr-xr-x 0\/0 +1500 .* src\/app\.bin$/m);
      execFileSync('tar', ['-xf', join(dir, 'ctx.tar'), '-C', dir]);
      expect(Buffer.compare(await readFile(join(dir, 'src/app.bin')), Buffer.from(binary))).toBe(0);
      expect(await readFile(join(dir, long), 'utf8')).toBe('far down\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses paths outside the context and duplicates', () => {
    expect(() => normalizeContextPath('../etc/passwd')).toThrow(/not a path inside/);
    expect(normalizeContextPath('/a//b/./c')).toBe('a/b/c');
    const one = { path: 'a', body: new Uint8Array(1), size: 1 };
    expect(() => tarParts([one, { ...one, path: './a' }])).toThrow(/twice/);
  });
});
