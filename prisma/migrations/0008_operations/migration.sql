-- Commands sent to agents, persisted: who asked, what (never a secret), its state, its result or reason, and
-- the deadline after which a missing result is shown as timed out. The id is the request id the agent sees,
-- so a delivery repeated after a control-plane restart is answered once, not run twice.
CREATE TABLE "operation" (
    "id" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "hostId" TEXT NOT NULL,
    "userId" TEXT,
    "kind" TEXT NOT NULL,
    "target" TEXT,
    "command" JSONB NOT NULL,
    "redeliverable" BOOLEAN NOT NULL DEFAULT true,
    "state" TEXT NOT NULL,
    "result" JSONB,
    "error" TEXT,
    "instanceId" TEXT,
    "deadline" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),
    CONSTRAINT "operation_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "operation_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "team"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "operation_teamId_createdAt_idx" ON "operation" ("teamId", "createdAt" DESC);
CREATE INDEX "operation_hostId_state_idx" ON "operation" ("hostId", "state");
CREATE INDEX "operation_state_deadline_idx" ON "operation" ("state", "deadline");
