/**
 * The agent's identity towards the control plane: an Ed25519 key pair made on first enrolment. The private key
 * never leaves <dataRoot>/agent/key.pem (mode 0600); the control plane keeps only the public key and checks a
 * signature over a fresh challenge on every connection.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { challengePayload } from '../protocol/messages';

const identityFileSchema = z.object({
  hostId: z.string().min(1),
  controlPlane: z.string().url(),
});
export type IdentityRecord = z.infer<typeof identityFileSchema>;

export class AgentIdentity {
  readonly #privateKey: KeyObject;
  readonly publicKey: string; // SPKI DER, base64: what the control plane stores
  record: IdentityRecord | undefined;
  readonly #dir: string;

  private constructor(dir: string, privateKey: KeyObject, record: IdentityRecord | undefined) {
    this.#dir = dir;
    this.#privateKey = privateKey;
    this.publicKey = createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).toString('base64');
    this.record = record;
  }

  /** Loads the key pair under `<dataRoot>/agent`, making one (0600) when there is none. */
  static async load(dataRoot: string): Promise<AgentIdentity> {
    const dir = join(dataRoot, 'agent');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const keyPath = join(dir, 'key.pem');
    let pem: string;
    try {
      pem = await readFile(keyPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      const { privateKey } = generateKeyPairSync('ed25519');
      pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      await writeAtomically(keyPath, pem, 0o600);
    }
    await chmod(keyPath, 0o600);
    let record: IdentityRecord | undefined;
    try {
      record = identityFileSchema.parse(JSON.parse(await readFile(join(dir, 'identity.json'), 'utf8')));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return new AgentIdentity(dir, createPrivateKey(pem), record);
  }

  async save(record: IdentityRecord): Promise<void> {
    this.record = identityFileSchema.parse(record);
    await writeAtomically(
      join(this.#dir, 'identity.json'),
      `${JSON.stringify(this.record, null, 2)}\n`,
      0o600,
    );
  }

  /** Signs a server challenge, bound to this host's id (see `challengePayload`). */
  signChallenge(nonce: string, hostId: string): string {
    return sign(null, challengePayload(nonce, hostId), this.#privateKey).toString('base64');
  }
}

async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, content, { mode });
  await rename(temp, path);
}
