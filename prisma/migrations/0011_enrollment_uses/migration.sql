-- An enrolment token may serve several hosts (a fleet rolled out with one command) until its uses run out or
-- it expires; "usedAt" is when its last use was taken.
ALTER TABLE "enrollment_token" ADD COLUMN "uses" INTEGER NOT NULL DEFAULT 1;
ALTER TABLE "enrollment_token" ADD COLUMN "usesLeft" INTEGER NOT NULL DEFAULT 1;
UPDATE "enrollment_token" SET "usesLeft" = 0 WHERE "usedAt" IS NOT NULL;
