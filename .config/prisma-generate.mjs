// Generates the Prisma client (packages/db/generated) after `npm ci`. Prisma 7's client needs no engine
// binary, but its CLI still fetches the migration engine before any command; we apply migrations with our own
// migrator (packages/db/src/migrate.ts), so the CLI is pointed at a stand-in and never downloads.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const prisma = `${root}node_modules/.bin/prisma`;
if (!existsSync(prisma)) process.exit(0); // a partial install (e.g. --omit=dev) has nothing to generate with
const result = spawnSync(prisma, ['generate', '--schema', 'prisma/schema.prisma'], {
  cwd: root,
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false', PRISMA_HIDE_UPDATE_MESSAGE: '1' },
});
process.exit(result.status ?? 1);
