/**
 * Dashboard benchmark: a team with 2,000 hosts and 100,000 containers (50 a host, with labels, states and
 * images as a real fleet has them, and each host's full inventory snapshot), on an embedded PostgreSQL. Measures
 * the server time of the Hosts page's query and the fleet-wide Containers page's (first page, text filter,
 * label filter, sorted, a deep page) through the real appRouter: each request builds its context from the
 * session cookie (better-auth session lookup, membership check) and runs the procedure, as a browser's would.
 * Prints p50/p95 per case against the target (p50 < 150 ms, p95 < 300 ms).
 *
 *   npx tsx bench/dashboard/run.ts [--hosts 2000] [--containers 100000] [--rounds 60]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { migrate, startEmbeddedPostgres } from '@berth/db';
import pg from 'pg';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '2000' },
    containers: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '60' },
  },
});
const hostCount = Number(values.hosts);
const containerCount = Number(values.containers);
const rounds = Number(values.rounds);

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

const root = await mkdtemp(join(tmpdir(), 'bt-bench-dashboard-'));
const database = await startEmbeddedPostgres({ root });
try {
  await migrate(database.url);
  process.env.DATABASE_URL = database.url;
  process.env.BETTER_AUTH_SECRET = randomBytes(32).toString('base64url');
  process.env.BERTH_PUBLIC_URL = 'http://localhost:3999';
  const { auth } = await import('@berth/web/server/auth');
  const { createContext } = await import('@berth/web/server/trpc/init');
  const { appRouter } = await import('@berth/web/server/trpc/router');
  const { db } = await import('@berth/web/server/db');

  const seedStarted = performance.now();
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  const {
    rows: [team],
  } = await client.query<{ id: string }>(
    `INSERT INTO "team" ("id", "name") VALUES (gen_random_uuid()::text, 'bench') RETURNING "id"`,
  );
  const teamId = team?.id as string;
  // Hosts: region and env labels; two thirds online.
  await client.query(
    `INSERT INTO "host" ("id", "teamId", "name", "publicKey", "online", "lastSeenAt", "agentVersion", "labels")
     SELECT gen_random_uuid()::text, $1, 'node-' || lpad(n::text, 5, '0'), 'key-' || n, n % 3 <> 0, now(), '0.1.0',
            jsonb_build_object('region', (ARRAY['eu-west','eu-central','us-east','ap-south'])[1 + n % 4],
                               'env', (ARRAY['prod','staging','dev'])[1 + n % 3])
     FROM generate_series(1, $2::int) n`,
    [teamId, hostCount],
  );
  // Containers: spread over the hosts; 200 images, 50 apps, mostly running.
  await client.query(
    `WITH h AS (SELECT "id", row_number() OVER (ORDER BY "name") - 1 AS i FROM "host" WHERE "teamId" = $1)
     INSERT INTO "host_container" ("hostId", "containerId", "teamId", "name", "image", "state", "status", "created", "labels", "ports")
     SELECT h."id", lpad(to_hex(n), 64, '0'), $1, 'svc-' || (n % 5000) || '-' || n,
            'registry.example/team/image-' || (n % 200) || ':' || (1 + n % 7),
            (ARRAY['running','running','running','running','running','running','exited','paused','created','restarting'])[1 + n % 10],
            'Up ' || (n % 90) || ' minutes', 1700000000 + n,
            jsonb_build_object('app', 'app-' || (n % 50), 'tier', (ARRAY['web','worker','db'])[1 + n % 3],
                               'com.docker.compose.project', 'proj-' || (n % 300)),
            '[]'::jsonb
     FROM generate_series(1, $2::int) n JOIN h ON h.i = n % $3`,
    [teamId, containerCount, hostCount],
  );
  await client.query(
    `INSERT INTO "host_image" ("hostId", "imageId", "teamId", "repoTags", "size", "created")
     SELECT h."id", 'sha256:' || lpad(to_hex(k), 64, '0'), $1,
            ARRAY['registry.example/team/image-' || k || ':1'], 50000000 + k * 1000, 1700000000 + k
     FROM "host" h, generate_series(1, 20) k WHERE h."teamId" = $1`,
    [teamId],
  );
  // Each host's snapshot as the gateway stores it (facts and its containers), so the pages read real rows.
  await client.query(
    `UPDATE "host" h SET "inventory" = jsonb_build_object(
        'facts', jsonb_build_object('hostname', h."name", 'os', 'Debian GNU/Linux 12 (bookworm)', 'kernel', '6.1.0',
                                    'arch', 'x64', 'cpus', 8, 'memoryBytes', 34359738368, 'runtimes', '{}'::jsonb,
                                    'agentVersion', '0.1.0'),
        'containers', COALESCE((SELECT jsonb_agg(jsonb_build_object('id', c."containerId", 'name', c."name",
                                 'image', c."image", 'imageId', '', 'command', 'run', 'state', c."state",
                                 'status', c."status", 'created', c."created", 'labels', c."labels",
                                 'ports', c."ports", 'networks', '[]'::jsonb))
                               FROM "host_container" c WHERE c."hostId" = h."id"), '[]'::jsonb),
        'images', '[]'::jsonb, 'volumes', '[]'::jsonb, 'networks', '[]'::jsonb)
     WHERE h."teamId" = $1`,
    [teamId],
  );
  await client.query('VACUUM ANALYZE');

  const email = 'bench@example.test';
  const password = 'bench-password-long';
  const { user } = await auth().api.signUpEmail({ body: { name: 'Bench', email, password } });
  await client.query(
    `INSERT INTO "membership" ("id", "teamId", "userId", "role") VALUES (gen_random_uuid()::text, $1, $2, 'viewer')`,
    [teamId, user.id],
  );
  await client.end();
  const signedIn = await auth().api.signInEmail({ body: { email, password }, asResponse: true });
  const cookie = signedIn.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  console.info(
    `seeded ${hostCount} hosts, ${containerCount} containers, ${hostCount * 20} images in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`,
  );

  const request = async (run: (caller: ReturnType<typeof appRouter.createCaller>) => Promise<unknown>) => {
    const started = performance.now();
    const ctx = await createContext({ headers: new Headers({ cookie }) });
    await run(appRouter.createCaller(ctx));
    return performance.now() - started;
  };
  const cases: Array<[string, (caller: ReturnType<typeof appRouter.createCaller>) => Promise<unknown>]> = [
    ['hosts: first page', (c) => c.hosts.list({ teamId })],
    ['hosts: text "node-012"', (c) => c.hosts.list({ teamId, search: 'node-012' })],
    ['hosts: label env=prod', (c) => c.hosts.list({ teamId, labels: ['env=prod'] })],
    ['hosts: page 40', (c) => c.hosts.list({ teamId, page: 40 })],
    ['containers: first page', (c) => c.containers.list({ teamId })],
    ['containers: text "svc-42"', (c) => c.containers.list({ teamId, search: 'svc-42' })],
    ['containers: text "image-17:3"', (c) => c.containers.list({ teamId, search: 'image-17:3' })],
    ['containers: label app=app-7', (c) => c.containers.list({ teamId, labels: ['app=app-7'] })],
    [
      'containers: label app=app-7,tier=web',
      (c) => c.containers.list({ teamId, labels: ['app=app-7', 'tier=web'] }),
    ],
    ['containers: state exited', (c) => c.containers.list({ teamId, states: ['exited'] })],
    [
      'containers: sorted created desc',
      (c) => c.containers.list({ teamId, sort: 'created', direction: 'desc' }),
    ],
    ['containers: sorted by host', (c) => c.containers.list({ teamId, sort: 'host' })],
    [
      'containers: sorted by image desc',
      (c) => c.containers.list({ teamId, sort: 'image', direction: 'desc' }),
    ],
    ['containers: page 1000 (deep)', (c) => c.containers.list({ teamId, page: 1000 })],
    ['images: first page', (c) => c.images.list({ teamId })],
  ];
  console.info(`\n${'case'.padEnd(40)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)}  target`);
  let failed = 0;
  for (const [name, run] of cases) {
    for (let i = 0; i < 5; i++) await request(run);
    const samples: number[] = [];
    for (let i = 0; i < rounds; i++) samples.push(await request(run));
    const p50 = percentile(samples, 50);
    const p95 = percentile(samples, 95);
    const ok = p50 < 150 && p95 < 300;
    if (!ok) failed++;
    console.info(
      `${name.padEnd(40)} ${p50.toFixed(1).padStart(8)} ${p95.toFixed(1).padStart(8)}  ${ok ? 'ok' : 'MISSED'}`,
    );
  }
  console.info(`\n${cases.length - failed}/${cases.length} cases within p50 < 150 ms and p95 < 300 ms`);
  await db().$disconnect();
} finally {
  await database.stop();
  await rm(root, { recursive: true, force: true });
}
