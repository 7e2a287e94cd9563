/**
 * `npm start`: the whole stack on this machine. Embedded PostgreSQL (unless DATABASE_URL names one),
 * migrations, the control plane (Next.js) on PORT (3000), and a local Berth agent serving the Docker API.
 * Everything lives under BERTH_HOME (default `.berth/` in the repository). Ctrl-C stops what this started.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDb, migrate, startEmbeddedPostgres } from '@berth/db';
import { z } from 'zod';
// @ts-expect-error: a plain .mjs helper shared with `npm test`, without type declarations.
import { ensureSystemPackages, runtimePackages } from './system-packages.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const config = z
  .object({
    PORT: z.coerce.number().int().min(1).max(65535).default(3000),
    BERTH_HOME: z.string().default(join(root, '.berth')),
    DATABASE_URL: z.string().url().optional(),
    BETTER_AUTH_SECRET: z.string().min(32).optional(),
    BERTH_PUBLIC_URL: z.string().url().optional(),
    BERTH_NO_AGENT: z.enum(['0', '1']).default('0'),
    BERTH_LOCAL_AGENT: z.enum(['0', '1']).default('1'),
  })
  // An empty variable counts as unset (`DATABASE_URL= npm start` uses the embedded database).
  .parse(Object.fromEntries(Object.entries(process.env).filter(([, value]) => value !== '')));
const home = resolve(config.BERTH_HOME);
const children: ChildProcess[] = [];
let stopping = false;
let database: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;

function say(line: string): void {
  console.info(`[berth] ${line}`);
}

async function authSecret(): Promise<string> {
  if (config.BETTER_AUTH_SECRET) return config.BETTER_AUTH_SECRET;
  const file = join(home, 'auth-secret');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const secret = randomBytes(32).toString('base64url');
    await writeFile(file, `${secret}\n`, { mode: 0o600 });
    return secret;
  }
}

/**
 * Where `next build` writes, below apps/web (next.config.ts reads the same variable). Several worktrees' e2e runs
 * on one checkout each set their own, so two builds never write one directory.
 */
const nextDist = process.env.BERTH_NEXT_DIST || '.next';

/** A hash of everything the web build depends on, so `npm start` rebuilds only after a change. */
async function sourceHash(): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (dir: string): Promise<void> => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      if (['node_modules', nextDist, '.next', '.tsbuild', 'generated'].includes(entry.name)) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else hash.update(path).update(String((await stat(path)).mtimeMs));
    }
  };
  await walk(join(root, 'apps/web'));
  await walk(join(root, 'packages/db/src'));
  await walk(join(root, 'prisma'));
  return hash.digest('hex');
}

async function buildWeb(): Promise<void> {
  // The agent bundle the control plane serves to hosts (SSH install, curl | sh); a fraction of a second.
  const bundle = spawnSync(process.execPath, [join(root, 'apps/agent/bundle/build.mjs')], {
    stdio: 'inherit',
  });
  if (bundle.status !== 0) throw new Error('the agent bundle did not build');
  const marker = join(root, 'apps/web', nextDist, 'berth-source-hash');
  const wanted = await sourceHash();
  const built = existsSync(join(root, 'apps/web', nextDist, 'BUILD_ID'))
    ? await readFile(marker, 'utf8').catch(() => '')
    : '';
  if (built === wanted) return;
  say('building the control plane (first start or sources changed)…');
  const result = spawnSync(join(root, 'node_modules/.bin/next'), ['build'], {
    cwd: join(root, 'apps/web'),
    stdio: 'inherit',
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
  });
  if (result.status !== 0) throw new Error('next build failed');
  await writeFile(marker, wanted);
}

const replacing = new Set<ChildProcess>();

function launch(
  name: string,
  file: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): ChildProcess {
  const child = spawn(file, args, { cwd: options.cwd, env: options.env, stdio: 'inherit' });
  children.push(child);
  child.once('exit', (code, signal) => {
    if (stopping || replacing.has(child)) return;
    say(`${name} stopped (${signal ?? `exit ${code}`}); shutting down`);
    void shutdown(1);
  });
  return child;
}

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  const running = () => children.filter((child) => child.exitCode === null && child.signalCode === null);
  for (const child of running()) if (child.pid) process.kill(child.pid, 'SIGTERM');
  const exited = Promise.all(running().map((child) => new Promise((r) => child.once('exit', r))));
  // A child that ignores SIGTERM for 15 s is killed, so Ctrl-C always ends `npm start`.
  const deadline = new Promise((r) => setTimeout(r, 15_000).unref());
  if ((await Promise.race([exited.then(() => 'exited'), deadline])) !== 'exited') {
    for (const child of running()) {
      say(`pid ${child.pid} did not stop in time; killing it`);
      if (child.pid) process.kill(child.pid, 'SIGKILL');
    }
    await exited;
  }
  await database?.stop().catch(() => {});
  process.exit(code);
}

/**
 * The local agent serves the Docker API at once, standalone. As soon as the control plane has an owner (after
 * the first visit), it is enrolled into the owner's first team and restarted linked; its containers keep
 * running across that restart. Later starts find it enrolled and link it straight away.
 */
async function runLocalAgent(databaseUrl: string, controlPlane: string): Promise<void> {
  // The agent's usual socket when this is the machine's own stack; a private one for stacks in a BERTH_HOME.
  const socket = process.env.BERTH_HOME ? join(home, 'docker.sock') : '/run/berth/docker.sock';
  const dataRoot = join(home, 'engine');
  // Supervised: if the agent dies it is back within a second or two (its containers keep running meanwhile).
  let desired: { args: string[]; env: NodeJS.ProcessEnv } = { args: [], env: {} };
  let current: ChildProcess | undefined;
  let restarts = 0;
  const spawnAgent = () => {
    const child = spawn(
      join(root, 'node_modules/.bin/tsx'),
      [join(root, 'apps/agent/src/main.ts'), ...desired.args],
      {
        cwd: root,
        env: { ...process.env, BERTH_DATA_ROOT: dataRoot, BERTH_DOCKER_SOCKET: socket, ...desired.env },
        stdio: 'inherit',
      },
    );
    children.push(child);
    current = child;
    const startedAt = Date.now();
    child.once('exit', (code, signal) => {
      if (stopping) return;
      if (replacing.has(child)) {
        spawnAgent();
        return;
      }
      restarts = Date.now() - startedAt > 60_000 ? 0 : restarts + 1;
      const delay = Math.min(5000, 500 * 2 ** Math.min(restarts, 3));
      say(`local agent stopped (${signal ?? `exit ${code}`}); restarting in ${delay} ms`);
      setTimeout(() => {
        if (!stopping) spawnAgent();
      }, delay).unref();
    });
  };
  const relaunch = async (next: { args: string[]; env: NodeJS.ProcessEnv }) => {
    desired = next;
    const child = current;
    if (!child || child.exitCode !== null || child.signalCode !== null) return spawnAgent();
    replacing.add(child);
    if (child.pid) process.kill(child.pid, 'SIGTERM');
  };
  say(`local agent: docker -H unix://${socket} ps`);
  // Only which control plane it is linked to; the identity's keys stay the agent's business.
  const identity = await readFile(join(dataRoot, 'agent', 'identity.json'), 'utf8')
    .then((text) => z.object({ controlPlane: z.string().optional() }).parse(JSON.parse(text)))
    .catch(() => ({ controlPlane: undefined }));
  if (identity.controlPlane === controlPlane) {
    desired = { args: ['--control-plane', controlPlane], env: {} };
    spawnAgent();
    return;
  }
  spawnAgent();
  const prisma = createDb(databaseUrl);
  try {
    let owner: { teamId: string; userId: string } | null = null;
    while (!owner && !stopping) {
      owner = await prisma.membership.findFirst({ where: { role: 'owner' }, orderBy: { createdAt: 'asc' } });
      if (!owner) await new Promise((r) => setTimeout(r, 2000));
    }
    if (!owner || stopping) return;
    const token = randomBytes(32).toString('base64url');
    await prisma.enrollmentToken.create({
      data: {
        teamId: owner.teamId,
        tokenHash: createHash('sha256').update(token).digest('hex'),
        createdBy: owner.userId,
        expiresAt: new Date(Date.now() + 10 * 60 * 1000),
      },
    });
    // In the environment, not the arguments: any local user can read a process's arguments.
    if (!stopping)
      await relaunch({ args: ['--control-plane', controlPlane], env: { BERTH_ENROLL_TOKEN: token } });
    say('local agent enrolled with the control plane');
  } finally {
    await prisma.$disconnect();
  }
}

async function main(): Promise<void> {
  if (!ensureSystemPackages(runtimePackages)) process.exit(1);
  await mkdir(home, { recursive: true, mode: 0o755 });
  process.once('SIGINT', () => void shutdown(0));
  process.once('SIGTERM', () => void shutdown(0));
  // npm 11 passes a SIGTERM to its `sh -c`, which dies without passing it on; this process is then
  // re-parented. Noticing that and stopping too means `kill <npm pid>` leaves nothing running.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) void shutdown(0);
  }, 1000).unref();

  let databaseUrl = config.DATABASE_URL;
  if (!databaseUrl) {
    say('starting embedded PostgreSQL…');
    database = await startEmbeddedPostgres({ root: join(home, 'db'), notice: say });
    databaseUrl = database.url;
  }
  const migrations = await migrate(databaseUrl);
  if (migrations.applied.length) say(`applied migrations: ${migrations.applied.join(', ')}`);
  await buildWeb();

  const publicUrl = config.BERTH_PUBLIC_URL ?? `http://localhost:${config.PORT}`;
  launch('control plane', join(root, 'node_modules/.bin/tsx'), [join(root, 'apps/web/server.ts')], {
    cwd: join(root, 'apps/web'),
    env: {
      ...process.env,
      PORT: String(config.PORT),
      NODE_ENV: 'production',
      NEXT_TELEMETRY_DISABLED: '1',
      DATABASE_URL: databaseUrl,
      BETTER_AUTH_SECRET: await authSecret(),
      BERTH_PUBLIC_URL: publicUrl,
    },
  });
  if (config.BERTH_NO_AGENT !== '1' && config.BERTH_LOCAL_AGENT !== '0')
    void runLocalAgent(databaseUrl, `http://127.0.0.1:${config.PORT}`);
  say(`control plane: ${publicUrl} (the first visit creates the owner account)`);
}

main().catch(async (error) => {
  console.error(`[berth] could not start: ${(error as Error).message}`);
  await shutdown(1);
});
