-- A container's state history (create, start, die with its exit code, stop, pause…) from its agent's events,
-- shown on the container's page newest first. Bounded: the newest 200 rows per container are kept, a destroyed
-- container's rows go with it, and every row goes with its host.
CREATE TABLE "container_state_event" (
    "id" BIGSERIAL NOT NULL,
    "hostId" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "containerId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "exitCode" INTEGER,
    "timeNano" BIGINT NOT NULL,
    CONSTRAINT "container_state_event_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "container_state_event_hostId_containerId_timeNano_idx" ON "container_state_event"("hostId", "containerId", "timeNano" DESC);
ALTER TABLE "container_state_event" ADD CONSTRAINT "container_state_event_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "host"("id") ON DELETE CASCADE ON UPDATE CASCADE;
