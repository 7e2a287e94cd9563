import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from './embedded';

describe('embedded PostgreSQL', () => {
  it('serves its database, and stop() returns even when a Ctrl-C already stopped the server', async () => {
    const root = await mkdtemp(join(tmpdir(), 'bt-db-embedded-'));
    try {
      const db = await startEmbeddedPostgres({ root });
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      expect((await client.query('SELECT current_database() AS name')).rows[0]?.name).toBe('berth');
      await client.end();
      // A terminal's Ctrl-C reaches PostgreSQL itself (same process group) before our stop().
      const pid = Number((await readFile(join(root, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0]);
      process.kill(pid, 'SIGINT');
      await new Promise((r) => setTimeout(r, 1500));
      const stopped = await Promise.race([
        db.stop().then(() => 'stopped'),
        new Promise((r) => setTimeout(() => r('hung'), 10_000)),
      ]);
      expect(stopped).toBe('stopped');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
