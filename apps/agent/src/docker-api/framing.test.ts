import { describe, expect, it } from 'vitest';
import { FrameDecoder, frame, frameHeader } from './framing';

describe('multiplexed stdio framing', () => {
  it('writes the 8-byte header dockerd writes: stream id, three zeros, big-endian length', () => {
    expect([...frameHeader('stdout', 5)]).toEqual([1, 0, 0, 0, 0, 0, 0, 5]);
    expect([...frameHeader('stderr', 0x01020304)]).toEqual([2, 0, 0, 0, 1, 2, 3, 4]);
    expect([...frame('stdin', Buffer.from('a'))]).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 97]);
  });

  it('decodes frames split across arbitrary chunk boundaries', () => {
    const bytes = Buffer.concat([
      frame('stdout', Buffer.from('hello\n')),
      frame('stderr', Buffer.from('oops')),
    ]);
    const decoder = new FrameDecoder();
    const out: string[] = [];
    for (let i = 0; i < bytes.length; i += 3) {
      for (const f of decoder.push(bytes.subarray(i, i + 3))) out.push(`${f.stream}:${f.payload}`);
    }
    expect(out).toEqual(['stdout:hello\n', 'stderr:oops']);
    expect(decoder.buffered).toBe(0);
  });

  it('refuses a length that does not fit the header', () => {
    expect(() => frameHeader('stdout', 2 ** 32)).toThrow(RangeError);
  });
});
