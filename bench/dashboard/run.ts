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
import { seedFleet, seedMember } from './seed';

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
  const { teamId } = await seedFleet(database.url, { hosts: hostCount, containers: containerCount });
  const email = 'bench@example.test';
  const password = 'bench-password-long';
  await seedMember(database.url, teamId, (body) => auth().api.signUpEmail({ body }), {
    email,
    password,
    role: 'viewer',
  });
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
