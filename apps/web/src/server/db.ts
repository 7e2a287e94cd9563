import { createDb, type Db } from '@berth/db/client';
import { env } from '../env';

const holder = globalThis as unknown as { berthDb?: Db };

/** One Prisma client per server process (kept across dev reloads). */
export function db(): Db {
  holder.berthDb ??= createDb(env().DATABASE_URL);
  return holder.berthDb;
}
