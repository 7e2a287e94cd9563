import { describe, expect, it } from 'vitest';
import { openSecret, sealSecret } from './crypto';

describe('registry secrets at rest', () => {
  const secret = 'x'.repeat(40);
  it('round-trips and never stores the password in the clear', () => {
    const sealed = sealSecret('hunter2-registry-password', secret);
    expect(sealed).not.toContain('hunter2');
    expect(sealed.startsWith('v1.')).toBe(true);
    expect(openSecret(sealed, secret)).toBe('hunter2-registry-password');
    expect(sealSecret('same', secret)).not.toBe(sealSecret('same', secret));
  });
  it('refuses another key and tampered ciphertext', () => {
    const sealed = sealSecret('p', secret);
    expect(() => openSecret(sealed, 'y'.repeat(40))).toThrow();
    const parts = sealed.split('.');
    parts[3] = Buffer.from('q').toString('base64url');
    expect(() => openSecret(parts.join('.'), secret)).toThrow();
  });
});
