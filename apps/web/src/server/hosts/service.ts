/** The team's hosts: the list (search, labels, pages, counts from the inventory rows), detail, and admin edits. */
import { inventorySchema } from '@berth/agent/protocol/messages';
import { Prisma } from '@berth/db/client';
import { z } from 'zod';
import { env } from '../../env';
import { createEnrollmentToken, type EnrollmentTokenOptions } from '../agents/enrollment';
import { gateway } from '../agents/gateway';
import { recordAudit } from '../audit';
import { HostNotFoundError } from '../containers/actions';
import { labelConditions, likePattern } from '../containers/fleet';
import { db } from '../db';
import { installCommand } from '../ssh-install/install-script';
import type { HostDetail, HostList, HostListInput, HostStatus } from './schemas';

export class HostNameTakenError extends Error {
  override readonly name = 'HostNameTakenError';
}

function statusOf(host: { revokedAt: Date | null; online: boolean; lastSeenAt: Date | null }): HostStatus {
  if (host.revokedAt) return 'revoked';
  if (host.online) return 'online';
  return host.lastSeenAt ? 'offline' : 'never connected';
}

const labelsSchema = z.record(z.string(), z.string()).catch({});
const statesSchema = z.record(z.string(), z.coerce.number()).catch({});

interface HostRow {
  id: string;
  name: string;
  enrolled: boolean;
  online: boolean;
  agentVersion: string | null;
  lastSeenAt: Date | null;
  createdAt: Date;
  revokedAt: Date | null;
  os: string | null;
  labels: unknown;
  images: bigint;
  states: unknown;
}

export async function listHosts(input: HostListInput): Promise<HostList> {
  const where: Prisma.Sql[] = [Prisma.sql`h."teamId" = ${input.teamId}`];
  if (input.search) {
    const pattern = likePattern(input.search);
    where.push(Prisma.sql`(h."name" ILIKE ${pattern} OR h."inventory"->'facts'->>'os' ILIKE ${pattern})`);
  }
  where.push(...labelConditions(Prisma.sql`h."labels"`, input.labels));
  const condition = Prisma.join(where, ' AND ');
  const [hosts, counted] = await Promise.all([
    db().$queryRaw<HostRow[]>`
      SELECT h."id", h."name", h."publicKey" IS NOT NULL AS "enrolled", h."online", h."agentVersion",
             h."lastSeenAt", h."createdAt", h."revokedAt", h."inventory"->'facts'->>'os' AS "os", h."labels",
             (SELECT count(*) FROM "host_image" i WHERE i."hostId" = h."id") AS "images",
             (SELECT jsonb_object_agg(s."state", s."n") FROM
                (SELECT c."state", count(*) AS "n" FROM "host_container" c WHERE c."hostId" = h."id"
                 GROUP BY c."state") s) AS "states"
      FROM "host" h
      WHERE ${condition}
      ORDER BY h."name", h."id"
      LIMIT ${input.pageSize} OFFSET ${(input.page - 1) * input.pageSize}`,
    db().$queryRaw<Array<{ total: bigint }>>`SELECT count(*) AS total FROM "host" h WHERE ${condition}`,
  ]);
  const ids = hosts.map((h) => h.id);
  const containers =
    ids.length && input.containersPerHost > 0
      ? await db().$queryRaw<
          Array<{ hostId: string; id: string; name: string; image: string; state: string; status: string }>
        >`
          SELECT "hostId", "id", "name", "image", "state", "status" FROM (
            SELECT c."hostId", c."containerId" AS "id", c."name", c."image", c."state", c."status",
                   row_number() OVER (PARTITION BY c."hostId" ORDER BY c."name", c."containerId") AS "n"
            FROM "host_container" c WHERE c."hostId" = ANY(${ids}::text[])) ranked
          WHERE "n" <= ${input.containersPerHost}
          ORDER BY "name", "id"`
      : [];
  return {
    rows: hosts.map((h) => {
      const states = statesSchema.parse(h.states ?? {});
      return {
        id: h.id,
        name: h.name,
        status: statusOf(h),
        enrolled: h.enrolled,
        online: h.online && !h.revokedAt,
        agentVersion: h.agentVersion,
        lastSeenAt: h.lastSeenAt?.toISOString() ?? null,
        createdAt: h.createdAt.toISOString(),
        os: h.os,
        labels: labelsSchema.parse(h.labels),
        images: Number(h.images),
        states,
        containerCount: Object.values(states).reduce((a, b) => a + b, 0),
        containers: containers.filter((c) => c.hostId === h.id).map(({ hostId: _, ...c }) => c),
      };
    }),
    total: Number(counted[0]?.total ?? 0),
    page: input.page,
    pageSize: input.pageSize,
  };
}

async function teamHost(teamId: string, hostId: string) {
  const host = await db().host.findFirst({ where: { id: hostId, teamId } });
  if (!host) throw new HostNotFoundError('No such host in this team.');
  return host;
}

export async function hostDetail(teamId: string, hostId: string): Promise<HostDetail> {
  const host = await teamHost(teamId, hostId);
  const [images, states] = await Promise.all([
    db().hostImage.count({ where: { hostId } }),
    db().hostContainer.groupBy({ by: ['state'], where: { hostId }, _count: { _all: true } }),
  ]);
  const inventory = inventorySchema.safeParse(host.inventory);
  const byState = Object.fromEntries(states.map((s) => [s.state, s._count._all]));
  const facts = inventory.success ? inventory.data.facts : null;
  return {
    id: host.id,
    name: host.name,
    status: statusOf(host),
    enrolled: host.publicKey !== null,
    online: host.online && !host.revokedAt,
    agentVersion: host.agentVersion,
    lastSeenAt: host.lastSeenAt?.toISOString() ?? null,
    createdAt: host.createdAt.toISOString(),
    revokedAt: host.revokedAt?.toISOString() ?? null,
    os: facts?.os ?? null,
    labels: labelsSchema.parse(host.labels),
    images,
    states: byState,
    containerCount: Object.values(byState).reduce((a, b) => a + b, 0),
    facts: facts
      ? {
          hostname: facts.hostname,
          os: facts.os,
          kernel: facts.kernel,
          arch: facts.arch,
          cpus: facts.cpus,
          memoryBytes: facts.memoryBytes,
          runtimes: facts.runtimes,
        }
      : null,
    volumes: inventory.success ? inventory.data.volumes.length : 0,
    networks: inventory.success ? inventory.data.networks.length : 0,
  };
}

export async function renameHost(
  teamId: string,
  hostId: string,
  name: string,
  userId: string,
): Promise<void> {
  const host = await teamHost(teamId, hostId);
  try {
    await db().host.update({ where: { id: host.id }, data: { name } });
  } catch (error) {
    if ((error as { code?: string }).code === 'P2002')
      throw new HostNameTakenError(`Another host of this team is named ${name}.`);
    throw error;
  }
  await recordAudit({
    action: 'host.rename',
    userId,
    teamId,
    target: host.id,
    detail: { from: host.name, to: name },
  });
}

export async function setHostLabels(
  teamId: string,
  hostId: string,
  labels: Record<string, string>,
  userId: string,
): Promise<void> {
  const host = await teamHost(teamId, hostId);
  await db().host.update({ where: { id: host.id }, data: { labels } });
  await recordAudit({
    action: 'host.labels',
    userId,
    teamId,
    target: host.id,
    detail: { host: host.name, labels: JSON.stringify(labels).slice(0, 2000) },
  });
}

/**
 * Revokes a host: from now on its agent is refused at hello (its key stays on record, so the same agent cannot
 * enrol again with it either), and its live connection on this instance is closed at once.
 */
export async function revokeHost(teamId: string, hostId: string, userId: string): Promise<void> {
  const host = await teamHost(teamId, hostId);
  if (host.revokedAt) return;
  await db().host.update({ where: { id: host.id }, data: { revokedAt: new Date(), online: false } });
  gateway().disconnect(host.id, 'this host was revoked by an admin of its team');
  await recordAudit({ action: 'host.revoke', userId, teamId, target: host.id, detail: { host: host.name } });
}

/** "Add a host": a one-time token and the command that enrols and starts an agent with it. */
export async function startEnrollment(
  teamId: string,
  userId: string,
  options: EnrollmentTokenOptions = {},
): Promise<{ command: string; installCommand: string; expiresAt: string; uses: number }> {
  const { token, expiresAt, uses } = await createEnrollmentToken(teamId, userId, options);
  const url = env().BERTH_PUBLIC_URL;
  return {
    command: `npm run agent -- --control-plane ${url} --enroll-token ${token}`,
    installCommand: installCommand(url, token),
    expiresAt,
    uses,
  };
}
