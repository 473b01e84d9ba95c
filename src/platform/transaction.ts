import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { ConflictError } from './errors.js';

/**
 * Statements inside a write transaction are prepared once per connection and use the generic plan.
 * Left to choose, Postgres keeps re-planning the posting statements on every execution (their array
 * parameters make the generic plan's estimated cost look higher than a custom plan's), which cost about
 * 0.5 ms of database CPU per posting, as much as executing them; their generic plans are the same
 * index lookups. SET LOCAL ends with the transaction, so reads elsewhere keep the default. Sent with BEGIN
 * as one simple query: no extra round trip.
 */
const BEGIN = 'BEGIN; SET LOCAL plan_cache_mode = force_generic_plan';
/**
 * On Citus a generic plan hides the root ledger from the distributed planner, which then cannot route the
 * statement to one shard (it refuses or fans out): transactions there leave the choice to the server.
 */
const BEGIN_SERVER_PLANNED = 'BEGIN';

/** Connections whose transactions must not force generic plans (DATABASE_CITUS; see connectDatabase). */
const serverPlannedClients = new WeakSet<object>();

/** Marks every connection the pool opens as leaving plan choice to the server, as Citus needs. */
export function leavePlanChoiceToServer(pool: pg.Pool): void {
  pool.on('connect', (client) => serverPlannedClients.add(client));
}

/** Postgres errors that mean "lost a race, try again": serialization_failure, deadlock_detected. */
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

export function isRetryableSqlError(error: unknown): boolean {
  return (
    typeof error === 'object' && error !== null && RETRYABLE_SQLSTATES.has((error as { code?: string }).code ?? '')
  );
}

/**
 * The transaction boundary for writes of several statements: BEGIN, run the use case, COMMIT; roll back on
 * any error. Lost races are retried up to `attemptsMax` times with jittered backoff, then reported as CONFLICT.
 * `keep`, asked once the work is done, may say to roll back instead (a dry run, work that found itself a
 * replay): the work's answer is returned all the same.
 */
export function inTransaction<T>(
  pool: pg.Pool,
  attemptsMax: number,
  work: (client: pg.PoolClient) => Promise<T>,
  onRetry: () => void = () => undefined,
  keep: () => boolean = () => true,
): Promise<T> {
  return retryingLostRaces(attemptsMax, onRetry, async () => {
    const client = await pool.connect();
    let broken = false;
    try {
      return await transactionOn(client, work, () => (broken = true), keep);
    } finally {
      client.release(broken);
    }
  });
}

/**
 * `inTransaction` on a connection the caller already holds, for work that must share a session with
 * something around it (a session-level advisory lock). `onBroken` is told when the connection can no
 * longer be trusted (its ROLLBACK failed), so that the caller releases it as broken.
 */
export function inTransactionOn<T>(
  client: pg.PoolClient,
  attemptsMax: number,
  work: (client: pg.PoolClient) => Promise<T>,
  onBroken: () => void,
): Promise<T> {
  return retryingLostRaces(
    attemptsMax,
    () => undefined,
    () => transactionOn(client, work, onBroken),
  );
}

async function transactionOn<T>(
  client: pg.PoolClient,
  work: (client: pg.PoolClient) => Promise<T>,
  onBroken: () => void,
  keep: () => boolean = () => true,
): Promise<T> {
  try {
    await client.query(serverPlannedClients.has(client) ? BEGIN_SERVER_PLANNED : BEGIN);
    const result = await work(client);
    await client.query(keep() ? 'COMMIT' : 'ROLLBACK');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch {
      onBroken();
    }
    throw error;
  }
}

/**
 * A write that is one statement, which Postgres runs as its own transaction (autocommit): no BEGIN or
 * COMMIT round trips, and no locks held between statements. Lost races are retried as in `inTransaction`.
 */
export function inOneStatement<T>(
  pool: pg.Pool,
  attemptsMax: number,
  statement: (pool: pg.Pool) => Promise<T>,
  onRetry: () => void = () => undefined,
): Promise<T> {
  return retryingLostRaces(attemptsMax, onRetry, () => statement(pool));
}

async function retryingLostRaces<T>(attemptsMax: number, onRetry: () => void, attempt: () => Promise<T>): Promise<T> {
  for (let attempts = 1; ; attempts += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (!isRetryableSqlError(error)) throw error;
      if (attempts >= attemptsMax) {
        throw new ConflictError(`the posting kept colliding with concurrent writes (${attempts} attempts); retry it`);
      }
    }
    onRetry();
    await sleep(Math.floor(Math.random() * 5 * 2 ** attempts));
  }
}
