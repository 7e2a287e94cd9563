import { describe, expect, it } from 'vitest';
import { FrameDecoder } from './framing';
import { encodeOutput, parseLogsQuery, rfc3339Nano } from './stdio';

describe('container output encoding', () => {
  it('formats times as RFC 3339 with nanoseconds, as docker logs -t prints them', () => {
    expect(rfc3339Nano(1_700_000_000_123_456_789n)).toBe('2023-11-14T22:13:20.123456789Z');
    expect(rfc3339Nano(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6)))).toBe('2024-01-02T03:04:05.006000000Z');
  });

  it('frames non-TTY output per stream and leaves TTY output raw', () => {
    const chunk = { stream: 'stderr' as const, data: Buffer.from('boom\n'), time: 1_000_000_000n };
    const framed = new FrameDecoder().push(encodeOutput(chunk, { tty: false }));
    expect(framed.map((f) => [f.stream, f.payload.toString()])).toEqual([['stderr', 'boom\n']]);
    expect(encodeOutput(chunk, { tty: true, timestamps: true }).toString()).toBe(
      '1970-01-01T00:00:01.000000000Z boom\n',
    );
  });

  it('parses logs queries with dockerd defaults and refusals', () => {
    expect(parseLogsQuery(new URLSearchParams('stdout=1&tail=all&since=0'))).toEqual({
      stdout: true,
      stderr: false,
      follow: false,
      timestamps: false,
      tail: undefined,
      since: undefined,
      until: undefined,
    });
    expect(parseLogsQuery(new URLSearchParams('stderr=1&tail=5&since=1700000000.5&follow=1'))).toMatchObject({
      tail: 5,
      since: 1_700_000_000.5,
      follow: true,
    });
    expect(() => parseLogsQuery(new URLSearchParams('tail=5'))).toThrow(/at least one stream/);
    expect(() => parseLogsQuery(new URLSearchParams('stdout=1&tail=x'))).toThrow(/tail/);
  });
});
