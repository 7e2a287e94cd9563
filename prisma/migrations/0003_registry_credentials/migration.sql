-- Team-shared registry credentials; `secret` holds the encrypted password, never the password itself.
CREATE TABLE "registry_credential" (
    "id" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "serverAddress" TEXT NOT NULL,
    "username" TEXT NOT NULL,
    "secret" TEXT NOT NULL,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "registry_credential_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "registry_credential_teamId_serverAddress_key" ON "registry_credential"("teamId", "serverAddress");
ALTER TABLE "registry_credential" ADD CONSTRAINT "registry_credential_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "team"("id") ON DELETE CASCADE ON UPDATE CASCADE;
