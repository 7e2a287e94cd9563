/** Images across the team's hosts (from the inventory rows), and removing one image from one host. */
import { REQUEST_TIMEOUT_MS } from '@berth/agent/protocol/messages';
import { Prisma } from '@berth/db/client';
import { recordAudit } from '../audit';
import { HostNotFoundError } from '../containers/actions';
import { likePattern } from '../containers/fleet';
import { db } from '../db';
import { runOperation } from '../operations/service';
import type { ImageList, ImageListInput, ImageRemoveInput } from './schemas';

const orderColumns = {
  // An untagged image sorts after the tagged ones, as `docker images` lists <none> last.
  tag: Prisma.sql`COALESCE(i."repoTags"[1], '~')`,
  host: Prisma.sql`h."name"`,
  size: Prisma.sql`i."size"`,
  created: Prisma.sql`i."created"`,
} as const;

interface Row {
  hostId: string;
  hostName: string;
  imageId: string;
  repoTags: string[];
  size: bigint;
  created: bigint;
  containers: bigint;
  online: boolean;
}

export async function listFleetImages(input: ImageListInput): Promise<ImageList> {
  const where: Prisma.Sql[] = [Prisma.sql`i."teamId" = ${input.teamId}`, Prisma.sql`h."revokedAt" IS NULL`];
  if (input.hostId) where.push(Prisma.sql`i."hostId" = ${input.hostId}`);
  if (input.search) {
    const pattern = likePattern(input.search);
    where.push(
      Prisma.sql`(array_to_string(i."repoTags", ' ') ILIKE ${pattern} OR i."imageId" ILIKE ${pattern} OR h."name" ILIKE ${pattern})`,
    );
  }
  const condition = Prisma.join(where, ' AND ');
  const direction = input.direction === 'desc' ? Prisma.sql`DESC` : Prisma.sql`ASC`;
  const [rows, counted] = await Promise.all([
    db().$queryRaw<Row[]>`
      SELECT i."hostId", h."name" AS "hostName", i."imageId", i."repoTags", i."size", i."created", h."online",
             (SELECT count(*) FROM "host_container" c
               WHERE c."hostId" = i."hostId"
                 AND (c."image" = i."imageId" OR c."image" = ANY(i."repoTags")
                      OR c."image" || ':latest' = ANY(i."repoTags"))) AS "containers"
      FROM "host_image" i JOIN "host" h ON h."id" = i."hostId"
      WHERE ${condition}
      ORDER BY ${orderColumns[input.sort]} ${direction}, i."hostId", i."imageId"
      LIMIT ${input.pageSize} OFFSET ${(input.page - 1) * input.pageSize}`,
    db().$queryRaw<Array<{ total: bigint }>>`
      SELECT count(*) AS total FROM "host_image" i JOIN "host" h ON h."id" = i."hostId" WHERE ${condition}`,
  ]);
  return {
    rows: rows.map((r) => ({
      hostId: r.hostId,
      hostName: r.hostName,
      imageId: r.imageId,
      repoTags: r.repoTags,
      size: Number(r.size),
      created: Number(r.created),
      containers: Number(r.containers),
      stale: !r.online,
    })),
    total: Number(counted[0]?.total ?? 0),
    page: input.page,
    pageSize: input.pageSize,
  };
}

/** `docker rmi` on one host, by id (tags of that id on that host go with it, as Docker does for an id). */
export async function removeImage(input: ImageRemoveInput, userId: string): Promise<void> {
  const host = await db().host.findFirst({
    where: { id: input.hostId, teamId: input.teamId, revokedAt: null },
  });
  if (!host) throw new HostNotFoundError('No such host in this team.');
  const audit = (ok: boolean, error?: string) =>
    recordAudit({
      action: 'image.remove',
      userId,
      teamId: input.teamId,
      target: `${host.id}/${input.imageId}`,
      detail: { host: host.name, force: input.force, ok, ...(error ? { error: error.slice(0, 500) } : {}) },
    });
  try {
    await runOperation({
      teamId: host.teamId,
      hostId: host.id,
      userId,
      command: { kind: 'image.remove', reference: input.imageId, force: input.force },
      target: input.imageId,
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
  } catch (error) {
    await audit(false, (error as Error).message);
    throw error;
  }
  // Images change without deltas; the row goes now and the next digest heals anything else that changed.
  await db().hostImage.deleteMany({ where: { hostId: host.id, imageId: input.imageId } });
  await audit(true);
}
