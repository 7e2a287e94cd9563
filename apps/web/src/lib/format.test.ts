import { describe, expect, it } from 'vitest';
import { formatBinaryBytes, formatBytes } from './format';

describe('sizes', () => {
  it('prints decimal sizes as docker images does', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(4_300_000)).toBe('4.3 MB');
    expect(formatBytes(123_456_789)).toBe('123 MB');
  });

  it('prints binary sizes as docker stats prints memory', () => {
    expect(formatBinaryBytes(64 * 1024 * 1024)).toBe('64 MiB');
    expect(formatBinaryBytes(1536)).toBe('1.5 KiB');
  });
});
