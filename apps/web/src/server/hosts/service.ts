import { inventorySchema } from '@berth/agent/protocol/messages';
import { env } from '../../env';
import { createEnrollmentToken } from '../agents/enrollment';
import { db } from '../db';

export interface HostContainer {
  id: string;
  name: string;
  image: string;
  state: string;
  status: string;
}

export interface HostSummary {
  id: string;
  name: string;
  enrolled: boolean;
  online: boolean;
  agentVersion: string | null;
  lastSeenAt: string | null;
  createdAt: string;
  os: string | null;
  images: number;
  containers: HostContainer[];
}

export async function listHosts(teamId: string): Promise<HostSummary[]> {
  const hosts = await db().host.findMany({ where: { teamId }, orderBy: { name: 'asc' } });
  return hosts.map((host) => {
    const inventory = inventorySchema.safeParse(host.inventory);
    return {
      id: host.id,
      name: host.name,
      enrolled: host.publicKey !== null,
      online: host.online,
      agentVersion: host.agentVersion,
      lastSeenAt: host.lastSeenAt?.toISOString() ?? null,
      createdAt: host.createdAt.toISOString(),
      os: inventory.success ? inventory.data.facts.os : null,
      images: inventory.success ? inventory.data.images.length : 0,
      containers: inventory.success
        ? inventory.data.containers
            .map((c) => ({ id: c.id, name: c.name, image: c.image, state: c.state, status: c.status }))
            .sort((a, b) => a.name.localeCompare(b.name))
        : [],
    };
  });
}

/** "Add a host": a one-time token and the command that enrols and starts an agent with it. */
export async function startEnrollment(
  teamId: string,
  userId: string,
): Promise<{ command: string; expiresAt: string }> {
  const { token, expiresAt } = await createEnrollmentToken(teamId, userId);
  const url = env().BERTH_PUBLIC_URL;
  return { command: `npm run agent -- --control-plane ${url} --enroll-token ${token}`, expiresAt };
}
