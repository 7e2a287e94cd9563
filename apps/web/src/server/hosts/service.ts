import { db } from '../db';

export interface HostSummary {
  id: string;
  name: string;
  enrolled: boolean;
  lastSeenAt: string | null;
  createdAt: string;
}

export async function listHosts(teamId: string): Promise<HostSummary[]> {
  const hosts = await db().host.findMany({ where: { teamId }, orderBy: { name: 'asc' } });
  return hosts.map((host) => ({
    id: host.id,
    name: host.name,
    enrolled: host.publicKey !== null,
    lastSeenAt: host.lastSeenAt?.toISOString() ?? null,
    createdAt: host.createdAt.toISOString(),
  }));
}
