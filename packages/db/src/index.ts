export { createDb, type Db } from './client';
export { type EmbeddedDatabase, freePort, startEmbeddedPostgres } from './embedded';
export { MigrationError, type MigrationResult, migrate, migrationsDir } from './migrate';
