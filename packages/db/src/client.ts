import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/client';

export type Db = InstanceType<typeof PrismaClient>;

/** A Prisma client over node-postgres (Prisma 7's driver-adapter mode: no query engine binary). */
export function createDb(databaseUrl: string): Db {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl }) });
}

/** Prisma's namespace (tagged `Prisma.sql` for the few queries written in SQL, and the model types). */
export { Prisma } from '../generated/client';
