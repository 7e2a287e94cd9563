/**
 * Seed factories: tests and benches make their own teams, members and hosts with these, each with unique
 * names so runs never collide. Users made here have no password (sign-in goes through better-auth's own API).
 */
import { randomUUID } from 'node:crypto';
import type { Db } from './client';

export type SeedRole = 'owner' | 'admin' | 'operator' | 'viewer';

export async function seedTeam(db: Db, name = `bt-team-${randomUUID().slice(0, 8)}`) {
  return db.team.create({ data: { name } });
}

export async function seedMember(db: Db, teamId: string, userId: string, role: SeedRole) {
  return db.membership.create({ data: { teamId, userId, role } });
}

export async function seedHost(
  db: Db,
  teamId: string,
  data: { name?: string; labels?: Record<string, string>; online?: boolean; publicKey?: string } = {},
) {
  return db.host.create({
    data: {
      teamId,
      name: data.name ?? `bt-host-${randomUUID().slice(0, 8)}`,
      labels: data.labels ?? {},
      online: data.online ?? false,
      lastSeenAt: new Date(),
      ...(data.publicKey ? { publicKey: data.publicKey } : {}),
    },
  });
}

/** A container row as an agent's inventory would leave it (64-hex id derived from a counter when not given). */
export function containerRowFor(
  hostId: string,
  teamId: string,
  n: number,
  data: Partial<{ name: string; image: string; state: string; labels: Record<string, string> }> = {},
) {
  return {
    hostId,
    teamId,
    containerId: n.toString(16).padStart(64, '0'),
    name: data.name ?? `c-${n}`,
    image: data.image ?? 'busybox:latest',
    state: data.state ?? 'running',
    status: data.state === 'exited' ? 'Exited (0) 1 minute ago' : 'Up 1 minute',
    created: BigInt(1_700_000_000 + n),
    labels: data.labels ?? {},
    ports: [],
  };
}
