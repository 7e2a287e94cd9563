-- SSH host keys an admin confirmed (pinned per team and address): a later connection presenting another key
-- is refused. Install runs record each step and its output so the browser can follow them; never a secret.
CREATE TABLE "ssh_host_key" (
    "id" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "keyType" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ssh_host_key_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "ssh_host_key_teamId_address_key" ON "ssh_host_key"("teamId", "address");
ALTER TABLE "ssh_host_key" ADD CONSTRAINT "ssh_host_key_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "team"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "ssh_install" (
    "id" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "username" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "steps" JSONB NOT NULL,
    "hostId" TEXT,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "ssh_install_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "ssh_install_teamId_createdAt_idx" ON "ssh_install"("teamId", "createdAt");
ALTER TABLE "ssh_install" ADD CONSTRAINT "ssh_install_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "team"("id") ON DELETE CASCADE ON UPDATE CASCADE;
