-- Substring search over 100,000 containers (name, image) and hosts (name) by trigram indexes, so "contains"
-- filters do not scan every row. pg_trgm is a trusted extension (a database owner may create it); where it is not
-- installed (a PostgreSQL without contrib), the search still works, by scanning, and this migration does nothing.
DO $$
BEGIN
  CREATE EXTENSION IF NOT EXISTS pg_trgm;
  CREATE INDEX IF NOT EXISTS "host_container_name_trgm_idx" ON "host_container" USING GIN ("name" gin_trgm_ops);
  CREATE INDEX IF NOT EXISTS "host_container_image_trgm_idx" ON "host_container" USING GIN ("image" gin_trgm_ops);
  CREATE INDEX IF NOT EXISTS "host_name_trgm_idx" ON "host" USING GIN ("name" gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'pg_trgm is not available (%); substring search scans instead', SQLERRM;
END
$$;
