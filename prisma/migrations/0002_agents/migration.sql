-- Agents: enrolment tokens, and what a connected agent reports about its host.
ALTER TABLE "host" ADD COLUMN "online" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "host" ADD COLUMN "agentVersion" TEXT;
ALTER TABLE "host" ADD COLUMN "inventory" JSONB;

CREATE TABLE "enrollment_token" (
    "id" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "createdBy" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "usedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "enrollment_token_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "enrollment_token_tokenHash_key" ON "enrollment_token"("tokenHash");
ALTER TABLE "enrollment_token" ADD CONSTRAINT "enrollment_token_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "team"("id") ON DELETE CASCADE ON UPDATE CASCADE;
