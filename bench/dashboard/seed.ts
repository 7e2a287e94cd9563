/**
 * Seeds one team with a fleet as a real one looks: hosts with region/env labels (two thirds online), containers
 * spread over them with app/tier/compose labels, 200 images and mostly running states, 20 images a host, and each
 * host's inventory snapshot as the gateway stores it. All in SQL (generate_series), so 100,000 rows take seconds.
 */
import pg from 'pg';

export async function seedFleet(
  databaseUrl: string,
  options: { hosts: number; containers: number },
): Promise<{ teamId: string }> {
  const hostCount = options.hosts;
  const containerCount = options.containers;
  const client = new pg.Client({ connectionString: databaseUrl });
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
  await client.end();
  return { teamId };
}

/** A member of the team with a password (better-auth's own sign-up, so the stack can sign them in). */
export async function seedMember(
  databaseUrl: string,
  teamId: string,
  signUp: (body: { name: string; email: string; password: string }) => Promise<{ user: { id: string } }>,
  member: { email: string; password: string; role: 'viewer' | 'operator' | 'admin' | 'owner' },
): Promise<void> {
  const { user } = await signUp({ name: member.email, email: member.email, password: member.password });
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO "membership" ("id", "teamId", "userId", "role") VALUES (gen_random_uuid()::text, $1, $2, $3)`,
      [teamId, user.id, member.role],
    );
  } finally {
    await client.end();
  }
}
