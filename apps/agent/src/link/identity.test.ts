import { createPublicKey, verify } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { challengePayload } from '../protocol/messages';
import { AgentIdentity } from './identity';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('AgentIdentity', () => {
  it('makes an Ed25519 key once, keeps it 0600, and signs challenges the public key verifies', async () => {
    const root = await mkdtemp(join(tmpdir(), 'bt-link-'));
    dirs.push(root);
    const first = await AgentIdentity.load(root);
    const again = await AgentIdentity.load(root);
    expect(again.publicKey).toBe(first.publicKey);
    expect((await stat(join(root, 'agent', 'key.pem'))).mode & 0o777).toBe(0o600);

    const signature = first.signChallenge('nonce-1', 'host-1');
    const publicKey = createPublicKey({
      key: Buffer.from(first.publicKey, 'base64'),
      format: 'der',
      type: 'spki',
    });
    expect(
      verify(null, challengePayload('nonce-1', 'host-1'), publicKey, Buffer.from(signature, 'base64')),
    ).toBe(true);
    expect(
      verify(null, challengePayload('nonce-2', 'host-1'), publicKey, Buffer.from(signature, 'base64')),
    ).toBe(false);
  });

  it('remembers the host id it enrolled as', async () => {
    const root = await mkdtemp(join(tmpdir(), 'bt-link-'));
    dirs.push(root);
    const identity = await AgentIdentity.load(root);
    expect(identity.record).toBeUndefined();
    await identity.save({ hostId: 'h-42', controlPlane: 'http://127.0.0.1:3000' });
    expect((await AgentIdentity.load(root)).record).toEqual({
      hostId: 'h-42',
      controlPlane: 'http://127.0.0.1:3000',
    });
  });
});
