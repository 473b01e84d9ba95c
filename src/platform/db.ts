import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';
import { parseDatabaseUrl } from './database-url.core.js';
import { type ReadTarget, type ReplicaEvents, ReplicaSet } from './read-replica.js';
import { PrimaryLocator, primaryClientClass, type PrimaryLocatorOptions } from './primary-locator.js';
import { RootDirectory } from './root-directory.js';
import { leavePlanChoiceToServer } from './transaction.js';

/**
 * One pg pool per process, shared by Prisma (through its driver adapter) and by the posting engine's
 * hand-written SQL, so both draw on the same connections and the same limit.
 */
export interface Database {
  pool: pg.Pool;
  prisma: PrismaClient;
  /** For a `DATABASE_URL` listing several hosts, what follows the primary among them; null for one host. */
  locator: PrimaryLocator | null;
  /** The read replicas of `DATABASE_READ_URL`; null without. */
  replicas: ReplicaSet | null;
  /**
   * Runs a read that may be slightly stale (lists, history, reports): on a replica that has replayed the
   * caller's own last write when there is one, else on the primary. Without replicas, on the primary.
   */
  stale<T>(read: (target: ReadTarget) => Promise<T>): Promise<T>;
  /** Id → root ledger, so every statement names its root (docs/citus-routing.md). */
  roots: RootDirectory;
  /** Statements sent to Postgres since start; tests use it to prove batching. */
  statementCount(): number;
  close(): Promise<void>;
}

/** What the locator reports to, when there is one. */
export type DatabaseEvents = Pick<PrimaryLocatorOptions, 'onPrimary' | 'onLost'>;

/** `DATABASE_READ_URL` and how long a read waits for a replica to replay its caller's write. */
export type ReadReplicaOptions = { url: string; maxWaitMs?: number } & ReplicaEvents;

/** How the database is deployed, where it changes what the server sends (DATABASE_CITUS). */
export interface DatabaseDeployment {
  /** A Citus coordinator: transactions leave plan choice to the distributed planner (docs/citus.md). */
  citus?: boolean;
}

export function connectDatabase(
  connectionString: string,
  poolMax: number,
  events: DatabaseEvents = {},
  read?: ReadReplicaOptions,
  deployment: DatabaseDeployment = {},
): Database {
  const targets = parseDatabaseUrl(connectionString);
  // One host is left to node-postgres exactly as before; a host list connects through the locator, so the
  // pool's connections, and Prisma's through the same pool, move to the new primary after a failover.
  const locator = targets.multiHost
    ? new PrimaryLocator({
        hosts: targets.hosts,
        targetSessionAttrs: targets.targetSessionAttrs,
        connectionString: targets.connectionString,
        ...events,
      })
    : null;
  const pool = new pg.Pool({
    connectionString: targets.connectionString,
    // On a host list, TCP keepalive also notices a primary that vanished without closing its connections
    // (a machine powered off, a partition) on idle connections, sooner than the kernel's retransmissions.
    ...(locator === null
      ? {}
      : { Client: primaryClientClass(locator), keepAlive: true, keepAliveInitialDelayMillis: 10_000 }),
    max: poolMax,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    application_name: 'reward-ledger',
  });
  if (deployment.citus === true) leavePlanChoiceToServer(pool);
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
  keepConnectionsWhenRefused(pool);

  const prisma = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: false }) });
  const replicas = read === undefined ? null : new ReplicaSet(read.url, poolMax, { pool, prisma }, read);
  return {
    pool,
    prisma,
    locator,
    replicas,
    stale: replicas === null ? (work) => work({ pool, prisma }) : (work) => replicas.stale(work),
    roots: new RootDirectory(pool),
    statementCount: () => statements,
    async close() {
      await replicas?.close();
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

/**
 * pg-pool's own `query` discards the connection whenever a statement fails, even when Postgres merely
 * refused it (a posting function's RAISE for insufficient funds, a unique violation, a deadlock to retry).
 * Every refusal then cost a new connection: a backend fork, authentication, and each prepared statement
 * prepared again. Measured in the bench, 10% refused redemptions halved S3's throughput. Here a statement
 * Postgres answered with an error returns its connection to the pool; any other failure (the connection
 * itself) discards it, and pg-pool drops connections that can no longer be queried either way.
 */
function keepConnectionsWhenRefused(pool: pg.Pool): void {
  const query = async (config: unknown, values?: unknown) => {
    const client = await pool.connect();
    let broken: Error | undefined;
    // A connection error while the statement runs reaches the statement; this keeps it from also
    // surfacing as an unhandled 'error' event on the checked-out client.
    const onError = (error: Error) => (broken = error);
    client.on('error', onError);
    try {
      return await client.query(config as pg.QueryConfig, values as unknown[]);
    } catch (error) {
      if (!(error instanceof pg.DatabaseError)) broken = error as Error;
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  };
  pool.query = query as unknown as typeof pool.query;
}
