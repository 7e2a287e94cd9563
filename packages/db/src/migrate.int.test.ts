import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from './client';
import { type EmbeddedDatabase, startEmbeddedPostgres } from './embedded';
import { MigrationError, migrate, migrationsDir } from './migrate';

describe('migrations on embedded PostgreSQL', () => {
  let root: string;
  let db: EmbeddedDatabase;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'bt-db-'));
    db = await startEmbeddedPostgres({ root });
  });
  afterAll(async () => {
    await db?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('applies each migration once when two instances race, then Prisma reads and writes the schema', async () => {
    const [a, b] = await Promise.all([migrate(db.url), migrate(db.url)]);
    // Every migration in the directory, in name order, applied by exactly one of the two.
    const all = (await readdir(migrationsDir, { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    expect(all.slice(0, 3)).toEqual(['0001_init', '0002_agents', '0003_registry_credentials']);
    expect([...a.applied, ...b.applied]).toEqual(all);
    expect([...a.alreadyApplied, ...b.alreadyApplied]).toEqual(all);
    const prisma = createDb(db.url);
    try {
      const team = await prisma.team.create({ data: { name: 'bt-team' } });
      const user = await prisma.user.create({
        data: { id: 'bt-user', name: 'Ada', email: 'ada@example.test' },
      });
      await prisma.membership.create({ data: { teamId: team.id, userId: user.id, role: 'owner' } });
      const found = await prisma.membership.findFirst({
        where: { userId: 'bt-user' },
        include: { team: true },
      });
      expect(found?.team.name).toBe('bt-team');
      await expect(
        prisma.user.create({ data: { id: 'bt-user-2', name: 'Dup', email: 'ada@example.test' } }),
      ).rejects.toThrow();
    } finally {
      await prisma.$disconnect();
    }
  });

  it('refuses a migration edited after it was applied, and rolls back a failing one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bt-db-migrations-'));
    try {
      await cp(migrationsDir, dir, { recursive: true });
      await writeFile(join(dir, '0001_init', 'migration.sql'), '-- edited\n', { flag: 'a' });
      await expect(migrate(db.url, dir)).rejects.toBeInstanceOf(MigrationError);
      await cp(migrationsDir, dir, { recursive: true });
      await cp(join(migrationsDir, '0001_init'), join(dir, '0002_bad'), { recursive: true });
      await writeFile(
        join(dir, '0002_bad', 'migration.sql'),
        'CREATE TABLE "bt_half" (id int);\nSELECT nope FROM nowhere;\n',
      );
      await expect(migrate(db.url, dir)).rejects.toThrow(/migration 0002_bad failed/);
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const half = await client.query("SELECT to_regclass('bt_half') AS t");
        expect(half.rows[0].t).toBeNull();
      } finally {
        await client.end();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
