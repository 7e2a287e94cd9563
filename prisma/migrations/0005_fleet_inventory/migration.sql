-- The fleet's inventory as rows: one per container and per image of each host, replaced from every full
-- inventory and kept current by the agent's deltas, so fleet-wide pages filter, sort and page in SQL instead of
-- unpacking every host's JSON snapshot. teamId is copied onto each row so a team's list needs no join to filter.
-- Hosts get labels (a string map, as Docker's) and a revocation time: a revoked agent is refused from then on.
ALTER TABLE "host" ADD COLUMN "labels" JSONB NOT NULL DEFAULT '{}';
ALTER TABLE "host" ADD COLUMN "revokedAt" TIMESTAMP(3);
CREATE INDEX "host_labels_idx" ON "host" USING GIN ("labels" jsonb_path_ops);

CREATE TABLE "host_container" (
    "hostId" TEXT NOT NULL,
    "containerId" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "image" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "created" BIGINT NOT NULL,
    "labels" JSONB NOT NULL DEFAULT '{}',
    "ports" JSONB NOT NULL DEFAULT '[]',
    CONSTRAINT "host_container_pkey" PRIMARY KEY ("hostId", "containerId")
);
CREATE INDEX "host_container_teamId_name_idx" ON "host_container"("teamId", "name");
CREATE INDEX "host_container_teamId_created_idx" ON "host_container"("teamId", "created");
CREATE INDEX "host_container_labels_idx" ON "host_container" USING GIN ("labels" jsonb_path_ops);
ALTER TABLE "host_container" ADD CONSTRAINT "host_container_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "host_image" (
    "hostId" TEXT NOT NULL,
    "imageId" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "repoTags" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "size" BIGINT NOT NULL,
    "created" BIGINT NOT NULL,
    CONSTRAINT "host_image_pkey" PRIMARY KEY ("hostId", "imageId")
);
CREATE INDEX "host_image_teamId_idx" ON "host_image"("teamId");
ALTER TABLE "host_image" ADD CONSTRAINT "host_image_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Rows for the hosts that already reported an inventory.
INSERT INTO "host_container" ("hostId", "containerId", "teamId", "name", "image", "state", "status", "created", "labels", "ports")
SELECT h."id", c->>'id', h."teamId", c->>'name', c->>'image', c->>'state', c->>'status',
       COALESCE((c->>'created')::numeric, 0)::bigint, COALESCE(c->'labels', '{}'), COALESCE(c->'ports', '[]')
FROM "host" h, jsonb_array_elements(h."inventory"->'containers') c
WHERE jsonb_typeof(h."inventory"->'containers') = 'array'
ON CONFLICT DO NOTHING;
INSERT INTO "host_image" ("hostId", "imageId", "teamId", "repoTags", "size", "created")
SELECT h."id", i->>'id', h."teamId",
       COALESCE(ARRAY(SELECT jsonb_array_elements_text(i->'repoTags')), ARRAY[]::TEXT[]),
       COALESCE((i->>'size')::numeric, 0)::bigint, COALESCE((i->>'created')::numeric, 0)::bigint
FROM "host" h, jsonb_array_elements(h."inventory"->'images') i
WHERE jsonb_typeof(h."inventory"->'images') = 'array'
ON CONFLICT DO NOTHING;
