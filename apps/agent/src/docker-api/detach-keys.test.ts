import { describe, expect, it } from 'vitest';
import { detachKeysFilter, parseDetachKeys } from './detach-keys';

async function feed(keys: Buffer, chunks: string[]): Promise<{ passed: string; detached: boolean }> {
  let detached = false;
  const filter = detachKeysFilter(keys, () => {
    detached = true;
  });
  let passed = '';
  filter.on('data', (c: Buffer) => {
    passed += c.toString('latin1');
  });
  for (const chunk of chunks) filter.write(Buffer.from(chunk, 'latin1'));
  filter.end();
  await new Promise((resolve) => filter.once('finish', resolve));
  return { passed, detached };
}

describe('detach keys', () => {
  it("parses Docker's notation", () => {
    expect([...parseDetachKeys('ctrl-p,ctrl-q')]).toEqual([0x10, 0x11]);
    expect([...parseDetachKeys('a,ctrl-@,ctrl-_,ctrl-[')]).toEqual([0x61, 0x00, 0x1f, 0x1b]);
    for (const bad of ['', 'ctrl-', 'ctrl-1', 'ctrl-pq', 'shift-a', 'ab,c', 'é'])
      expect(() => parseDetachKeys(bad), bad).toThrow(/Invalid detach keys/);
  });

  it('detaches on the sequence, even split across chunks, and drops what follows', async () => {
    const keys = parseDetachKeys('ctrl-p,ctrl-q');
    expect(await feed(keys, ['ls\n\x10', '\x11rm -rf /\n'])).toEqual({ passed: 'ls\n', detached: true });
  });

  it('passes on a partial match that turns out not to be the sequence, and a trailing one at the end', async () => {
    const keys = parseDetachKeys('ctrl-p,ctrl-q');
    expect(await feed(keys, ['a\x10b', '\x10\x10', '\x11'])).toEqual({
      passed: 'a\x10b\x10',
      detached: true,
    });
    expect(await feed(keys, ['x\x10'])).toEqual({ passed: 'x\x10', detached: false });
  });
});
