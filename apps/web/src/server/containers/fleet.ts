/**
 * The fleet-wide containers list: every container of every host of a team, from the inventory rows, paged,
 * searched, filtered by label and state, and sorted in SQL. Two statements (the page and the count) run side by
 * side: an ORDER BY … LIMIT can walk the (teamId, name) index and stop early, which a window count would prevent.
 */
import { Prisma } from '@berth/db/client';
import { db } from '../db';
import { type FleetList, type FleetListInput, parseLabelFilter } from './schemas';

/** `%` and `_` typed by a person are meant literally. */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Label filters as SQL: `key=value` by containment (GIN jsonb_path_ops), `key` by presence. */
export function labelConditions(column: Prisma.Sql, filters: string[]): Prisma.Sql[] {
  return filters.map((filter) => {
    const { key, value } = parseLabelFilter(filter);
    return value === undefined
      ? Prisma.sql`jsonb_exists(${column}, ${key})`
      : Prisma.sql`${column} @> ${JSON.stringify({ [key]: value })}::jsonb`;
  });
}

const orderColumns = {
  name: Prisma.sql`c."name"`,
  image: Prisma.sql`c."image"`,
  state: Prisma.sql`c."state"`,
  host: Prisma.sql`h."name"`,
  created: Prisma.sql`c."created"`,
} as const;

interface Row {
  hostId: string;
  hostName: string;
  containerId: string;
  name: string;
  image: string;
  state: string;
  status: string;
  created: bigint;
  labels: Record<string, string>;
  online: boolean;
  lastSeenAt: Date | null;
}

export async function listFleetContainers(input: FleetListInput): Promise<FleetList> {
  const where: Prisma.Sql[] = [Prisma.sql`c."teamId" = ${input.teamId}`, Prisma.sql`h."revokedAt" IS NULL`];
  if (input.hostId) where.push(Prisma.sql`c."hostId" = ${input.hostId}`);
  if (input.search) {
    const pattern = likePattern(input.search);
    // Every branch on the container row itself (the host's name through the ids of the hosts it matches), so
    // PostgreSQL can OR the trigram indexes on name and image with the primary key instead of scanning.
    where.push(
      Prisma.sql`(c."name" ILIKE ${pattern} OR c."image" ILIKE ${pattern} OR c."hostId" = ANY(ARRAY(
        SELECT m."id" FROM "host" m WHERE m."teamId" = ${input.teamId} AND m."name" ILIKE ${pattern})))`,
    );
  }
  if (input.states.length > 0) where.push(Prisma.sql`c."state" = ANY(${input.states}::text[])`);
  where.push(...labelConditions(Prisma.sql`c."labels"`, input.labels));
  const condition = Prisma.join(where, ' AND ');
  const direction = input.direction === 'desc' ? Prisma.sql`DESC` : Prisma.sql`ASC`;
  const offset = (input.page - 1) * input.pageSize;
  const [rows, counted] = await Promise.all([
    db().$queryRaw<Row[]>`
      SELECT c."hostId", h."name" AS "hostName", c."containerId", c."name", c."image", c."state", c."status",
             c."created", c."labels", h."online", h."lastSeenAt"
      FROM "host_container" c JOIN "host" h ON h."id" = c."hostId"
      WHERE ${condition}
      ORDER BY ${orderColumns[input.sort]} ${direction}, c."hostId", c."containerId"
      LIMIT ${input.pageSize} OFFSET ${offset}`,
    db().$queryRaw<Array<{ total: bigint }>>`
      SELECT count(*) AS total FROM "host_container" c JOIN "host" h ON h."id" = c."hostId" WHERE ${condition}`,
  ]);
  return {
    rows: rows.map((r) => ({
      hostId: r.hostId,
      hostName: r.hostName,
      containerId: r.containerId,
      name: r.name,
      image: r.image,
      state: r.state,
      status: r.status,
      created: Number(r.created),
      labels: r.labels,
      stale: !r.online,
      lastSeenAt: r.lastSeenAt,
    })),
    total: Number(counted[0]?.total ?? 0),
    page: input.page,
    pageSize: input.pageSize,
  };
}
