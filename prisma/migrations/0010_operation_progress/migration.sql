-- What a long operation (an image pull) reported so far: per layer, its status and bytes done/total, as the
-- agent's progress events said; written a few times a second at most, read by the pages that follow it.
ALTER TABLE "operation" ADD COLUMN "progress" JSONB;
