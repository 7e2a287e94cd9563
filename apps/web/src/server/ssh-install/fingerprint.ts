/** SSH host key fingerprints as OpenSSH prints them (`ssh-keygen -lf`): SHA256:<base64, no padding>. */
import { createHash } from 'node:crypto';

export function sshFingerprint(hostKey: Buffer): string {
  return `SHA256:${createHash('sha256').update(hostKey).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named at the start of the SSH wire-format key (a uint32 length, then e.g. "ssh-ed25519"). */
export function sshKeyType(hostKey: Buffer): string {
  if (hostKey.length < 4) return 'unknown';
  const length = hostKey.readUInt32BE(0);
  if (length === 0 || length > 64 || hostKey.length < 4 + length) return 'unknown';
  return hostKey.subarray(4, 4 + length).toString('latin1');
}
