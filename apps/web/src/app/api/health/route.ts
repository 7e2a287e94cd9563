import { db } from '../../../server/db';

export const dynamic = 'force-dynamic';

/** Liveness for load balancers and supervisors: the database answers and the migrations are applied. */
export async function GET() {
  try {
    const rows = await db().$queryRaw<
      Array<{ name: string }>
    >`SELECT name FROM "_berth_migrations" ORDER BY name`;
    return Response.json({ ok: true, database: 'up', migrations: rows.map((r) => r.name) });
  } catch {
    return Response.json({ ok: false, database: 'unreachable' }, { status: 503 });
  }
}
