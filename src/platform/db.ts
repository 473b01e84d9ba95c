import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';

/**
 * One pg pool per process, shared by Prisma (through its driver adapter) and by the posting engine's
 * hand-written SQL, so both draw on the same connections and the same limit.
 */
export interface Database {
  pool: pg.Pool;
  prisma: PrismaClient;
  /** Statements sent to Postgres since start; tests use it to prove batching. */
  statementCount(): number;
  close(): Promise<void>;
}

export function connectDatabase(connectionString: string, poolMax: number): Database {
  const pool = new pg.Pool({
    connectionString,
    max: poolMax,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    application_name: 'reward-ledger',
  });
  let statements = 0;
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      statements += 1;
      return query(...args);
    };
  });
  // An idle client losing its server must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);

  const prisma = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: false }) });
  return {
    pool,
    prisma,
    statementCount: () => statements,
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}
