-- Several control-plane instances serve one fleet. Each agent is connected to one instance at a time, which
-- it records on the host; the others reach the agent through that instance, over PostgreSQL LISTEN/NOTIFY.
-- NOTIFY carries under 8000 bytes, so a larger message waits in instance_message and the notification
-- names it; the receiver takes it out (and rows left by an instance that died are swept after a while).
ALTER TABLE "host" ADD COLUMN "connectedInstance" TEXT;

CREATE TABLE "instance_message" (
    "id" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "instance_message_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "instance_message_createdAt_idx" ON "instance_message" ("createdAt");
