/** Team-shared registry credentials: admins save them, operators' deploys use them; passwords never leave. */
import { parseReference } from '@berth/engine/images/reference';
import { env } from '../../env';
import { recordAudit } from '../audit';
import { db } from '../db';
import { openSecret, sealSecret } from './crypto';
import type { RegistrySaveInput } from './schemas';

export interface RegistryView {
  id: string;
  serverAddress: string;
  username: string;
  updatedAt: string;
}

export async function listRegistries(teamId: string): Promise<RegistryView[]> {
  const rows = await db().registryCredential.findMany({
    where: { teamId },
    orderBy: { serverAddress: 'asc' },
  });
  return rows.map((r) => ({
    id: r.id,
    serverAddress: r.serverAddress,
    username: r.username,
    updatedAt: r.updatedAt.toISOString(),
  }));
}

export async function saveRegistry(input: RegistrySaveInput, userId: string): Promise<RegistryView> {
  const secret = sealSecret(input.password, env().BETTER_AUTH_SECRET);
  const row = await db().registryCredential.upsert({
    where: { teamId_serverAddress: { teamId: input.teamId, serverAddress: input.serverAddress } },
    create: {
      teamId: input.teamId,
      serverAddress: input.serverAddress,
      username: input.username,
      secret,
      createdBy: userId,
    },
    update: { username: input.username, secret },
  });
  await recordAudit({
    action: 'registry.save',
    userId,
    teamId: input.teamId,
    target: input.serverAddress,
    detail: { username: input.username },
  });
  return {
    id: row.id,
    serverAddress: row.serverAddress,
    username: row.username,
    updatedAt: row.updatedAt.toISOString(),
  };
}

export async function removeRegistry(teamId: string, id: string, userId: string): Promise<void> {
  const row = await db().registryCredential.findFirst({ where: { id, teamId } });
  if (!row) return;
  await db().registryCredential.delete({ where: { id: row.id } });
  await recordAudit({ action: 'registry.remove', userId, teamId, target: row.serverAddress });
}

/** The credentials for the registry an image reference points at, if the team saved some. */
export async function credentialsForImage(
  teamId: string,
  image: string,
): Promise<{ serverAddress: string; username: string; password: string } | undefined> {
  let domain: string;
  try {
    domain = parseReference(image).domain;
  } catch {
    return undefined;
  }
  const row = await db().registryCredential.findUnique({
    where: { teamId_serverAddress: { teamId, serverAddress: domain } },
  });
  if (!row) return undefined;
  return {
    serverAddress: row.serverAddress,
    username: row.username,
    password: openSecret(row.secret, env().BETTER_AUTH_SECRET),
  };
}
