/**
 * Pulling an image on a selection of the team's hosts: one operation per host, started together and followed
 * on the page through the operations' per-layer progress. The team's credentials for the image's registry
 * travel inside each pull command only (never stored on a host, never in the operation row).
 */
import { recordAudit } from '../audit';
import { HostNotFoundError } from '../containers/actions';
import { db } from '../db';
import { startOperation } from '../operations/service';
import { credentialsForImage } from '../registries/service';
import type { ImagePullInput } from './schemas';

const pullTimeoutMs = 30 * 60_000;

export async function pullImage(
  input: ImagePullInput,
  userId: string,
): Promise<{ operations: Array<{ hostId: string; operationId: string }> }> {
  const hostIds = [...new Set(input.hostIds)];
  const hosts = await db().host.findMany({
    where: { id: { in: hostIds }, teamId: input.teamId, revokedAt: null },
    select: { id: true, name: true },
  });
  // One unknown id refuses the whole request, before anything is pulled: a foreign host is "not found".
  if (hosts.length !== hostIds.length) throw new HostNotFoundError('No such host in this team.');
  const auth = await credentialsForImage(input.teamId, input.reference);
  const operations: Array<{ hostId: string; operationId: string }> = [];
  for (const host of hosts) {
    const { id, done } = await startOperation({
      teamId: input.teamId,
      hostId: host.id,
      userId,
      command: { kind: 'image.pull', reference: input.reference, ...(auth ? { auth } : {}) },
      target: input.reference,
      timeoutMs: pullTimeoutMs,
      followProgress: true,
    });
    operations.push({ hostId: host.id, operationId: id });
    // The outcome lands on the operation row; the audit says who pulled what where, and with which result.
    void done.then(
      () => auditPull(input, userId, host, auth?.serverAddress ?? null, true),
      (error: Error) => auditPull(input, userId, host, auth?.serverAddress ?? null, false, error.message),
    );
  }
  return { operations };
}

function auditPull(
  input: ImagePullInput,
  userId: string,
  host: { id: string; name: string },
  credentials: string | null,
  ok: boolean,
  error?: string,
): Promise<void> {
  return recordAudit({
    action: 'image.pull',
    userId,
    teamId: input.teamId,
    target: `${host.id}/${input.reference}`,
    detail: {
      host: host.name,
      reference: input.reference,
      credentials,
      ok,
      ...(error ? { error: error.slice(0, 500) } : {}),
    },
  }).catch(() => {});
}
