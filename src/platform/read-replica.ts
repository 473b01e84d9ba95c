import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';
import { READ_MAX_WAIT_MS_DEFAULT } from './config.js';
import { type DatabaseHost, describeHost, parseReadUrl } from './database-url.core.js';

/**
 * Reads that may be slightly stale, on streaming replicas (`DATABASE_READ_URL`), without a caller ever
 * reading something older than its own last write.
 *
 * After every GraphQL mutation the server asks the primary where its WAL stands (WRITE_MARK_SQL: the flush
 * position) and keeps it as that credential's write mark. The mutation's transactions have all committed
 * and been flushed by then, and the position is global and only moves forward, so the mark is at or past
 * the end of each of their commit records, whatever session asks. (Read inside the transaction, before
 * COMMIT, it would be before the commit record, which a replica can replay without showing the write.)
 * A stale-OK read by that credential goes to a replica only once the replica's `pg_last_wal_replay_lsn()` has reached the mark,
 * polled every REPLAY_POLL_MS up to `DATABASE_READ_MAX_WAIT_MS`; past that, or when no replica answers, it
 * runs on the primary. Reads outside an HTTP request (subscriptions, the scheduler, webhook workers) and
 * every read that is not marked stale-OK stay on the primary.
 *
 * The marks are kept in the instance's memory and, when `REDIS_URL` is set, in Redis too (`shareMarks`), so
 * an instance honours writes another instance served. See README "reads on replicas".
 */

/** How often a read waiting for the replica to catch up asks it again. */
export const REPLAY_POLL_MS = 10;
/** A replay position this fresh is reused, so a burst of reads asks the replica once. */
export const REPLAY_REUSE_MS = 2;
/** A replica that failed is left alone this long before it is tried again. */
export const REPLICA_RETRY_MS = 5_000;
/** A write mark is forgotten after this long (every replica has long replayed it). */
const MARK_KEEP_MS = 10 * 60_000;
/** When the primary could not say where a write ended, the writer's reads stay on the primary this long. */
const UNKNOWN_MARK_KEEP_MS = 30_000;
const MAX_LSN = (1n << 64n) - 1n;

/**
 * The write mark. With synchronous_commit on (the default; the server never lowers it), each commit was
 * flushed before it was acknowledged, so the flush position is at or past its commit record, and it is
 * exactly what the walsenders may send. The insert position would be too, but it runs ahead to records
 * nobody flushed yet (the WAL writer's next round, up to wal_writer_delay later), and readers would wait
 * for those. Where a server runs with synchronous_commit off, a commit may not be flushed yet: the insert
 * position, which is past every commit, is the safe mark there.
 */
const WRITE_MARK_SQL = `SELECT (CASE WHEN current_setting('synchronous_commit') = 'off'
  THEN pg_current_wal_insert_lsn() ELSE pg_current_wal_flush_lsn() END)::text AS lsn`;

/** An LSN as Postgres prints it (`16/B374D848`) as a number. */
export function parseLsn(text: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (match === null) throw new Error(`not an LSN: ${text}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Where a stale-OK read runs. */
export interface ReadTarget {
  pool: pg.Pool;
  prisma: PrismaClient;
}

interface ReadScope {
  credential: string | null;
}

const scope = new AsyncLocalStorage<ReadScope>();

/** Runs `next` (an HTTP request's handling) in a scope that stale-OK reads may be routed from. */
export function inReadScope<T>(next: () => T): T {
  return scope.run({ credential: null }, next);
}

/** The request's credential, once authenticated: its reads honour its own write marks. */
export function setReadCredential(credential: string): void {
  const state = scope.getStore();
  if (state !== undefined) state.credential = credential;
}

/** Where write marks are shared between instances (Redis): the larger LSN wins, kept for `keepMs`. */
export interface SharedMarks {
  record(credential: string, lsn: bigint, keepMs: number): Promise<void>;
  /** The mark, or undefined when there is none. Throws when the store cannot answer. */
  get(credential: string): Promise<bigint | undefined>;
}

/** An LSN as 16 hex digits: compared as strings (in Redis's Lua), it orders as the number. */
export function sortableLsn(lsn: bigint): string {
  return lsn.toString(16).padStart(16, '0');
}

// The larger mark wins, whichever instance writes last, and lives as long as it asked. A smaller mark does
// not extend it: the larger covers it, and an "unknown" mark (the largest LSN, kept briefly) must lapse.
const RECORD_MARK = `local current = redis.call('GET', KEYS[1])
if (not current) or ARGV[1] > current then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1`;

/** Write marks in Redis, under `keyPrefix` + credential, over the RESP client. */
export function redisMarks(
  redis: { command(args: readonly string[]): Promise<unknown> },
  keyPrefix: string,
): SharedMarks {
  const check = (reply: unknown) => {
    if (reply !== null && typeof reply === 'object' && 'message' in reply && !Array.isArray(reply)) {
      throw new Error(`Redis: ${(reply as { message: string }).message}`);
    }
    return reply;
  };
  return {
    async record(credential, lsn, keepMs) {
      check(await redis.command(['EVAL', RECORD_MARK, '1', keyPrefix + credential, sortableLsn(lsn), String(keepMs)]));
    },
    async get(credential) {
      const reply = check(await redis.command(['GET', keyPrefix + credential]));
      return typeof reply === 'string' ? BigInt(`0x${reply}`) : undefined;
    },
  };
}

export interface ReplicaEvents {
  /** A replica stopped answering (told once, until it answers again). */
  onUnreachable?: (host: DatabaseHost, reason: string) => void;
  /** A replica that was unreachable answers again. */
  onReachable?: (host: DatabaseHost) => void;
}

export interface ReplicaOptions extends ReplicaEvents {
  maxWaitMs?: number;
}

/** What the routing did since start; tests and /metrics read it. */
export interface ReadCounts {
  /** Stale-OK reads run on a replica. */
  replica: number;
  /** Stale-OK reads run on the primary (no scope, no replica, or lag beyond the wait). */
  primary: number;
  /** Of those on the primary, how many because the replica had not replayed the caller's write in time. */
  lagged: number;
  /** Reads that waited for a replica to catch up and then ran there. */
  waited: number;
  /** Reads that failed on a replica and were run again on the primary. */
  retriedOnPrimary: number;
  /** Write marks recorded. */
  marks: number;
}

class Replica {
  readonly pool: pg.Pool;
  readonly prisma: PrismaClient;
  downUntil = 0;
  private replay: { at: number; lsn: Promise<bigint> } | null = null;

  constructor(
    readonly host: DatabaseHost,
    connectionString: string,
    poolMax: number,
    multiHost: boolean,
  ) {
    this.pool = new pg.Pool({
      connectionString,
      max: poolMax,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 2_000,
      application_name: 'reward-ledger-read',
      keepAlive: true,
    });
    if (multiHost) {
      // The connection string names the list's first host; this replica's is set on the pool's options,
      // which node-postgres reads after the string.
      const options = (this.pool as unknown as { options: pg.PoolConfig }).options;
      options.host = host.host;
      options.port = host.port;
    }
    this.pool.on('error', () => undefined);
    this.prisma = new PrismaClient({ adapter: new PrismaPg(this.pool, { disposeExternalPool: false }) });
  }

  /** How far the replica has replayed, shared by reads that ask within REPLAY_REUSE_MS. */
  replayLsn(): Promise<bigint> {
    const now = Date.now();
    if (this.replay !== null && now - this.replay.at <= REPLAY_REUSE_MS) return this.replay.lsn;
    const lsn = this.pool
      .query<{ lsn: string | null }>('SELECT pg_last_wal_replay_lsn()::text AS lsn')
      .then(({ rows }) => {
        const text = rows[0]?.lsn ?? null;
        // NULL: the server is not in recovery, so not a replica of ours (or one promoted since).
        if (text === null) throw new Error('not a standby (pg_last_wal_replay_lsn() is null)');
        return parseLsn(text);
      });
    const entry = { at: now, lsn };
    this.replay = entry;
    lsn.catch(() => {
      if (this.replay === entry) this.replay = null;
    });
    return lsn;
  }
}

export class ReplicaSet {
  readonly counts: ReadCounts = { replica: 0, primary: 0, lagged: 0, waited: 0, retriedOnPrimary: 0, marks: 0 };
  readonly maxWaitMs: number;
  private readonly replicas: Replica[];
  private readonly marks = new Map<string, { lsn: bigint; until: number }>();
  private shared: SharedMarks | null = null;
  private sharedFailing = false;
  private onMarksUnavailable: ((reason: string) => void) | undefined;
  private next = 0;

  constructor(
    url: string,
    poolMax: number,
    private readonly primary: ReadTarget,
    private readonly options: ReplicaOptions = {},
  ) {
    const targets = parseReadUrl(url);
    this.maxWaitMs = options.maxWaitMs ?? READ_MAX_WAIT_MS_DEFAULT;
    // Every host of the list is a replica of its own; reads are spread over those that answer.
    this.replicas = targets.hosts.map(
      (host) => new Replica(host, targets.connectionString, poolMax, targets.multiHost),
    );
  }

  /**
   * Shares write marks with other instances (Redis): each instance's reads honour every instance's writes.
   * `onUnavailable` is told once when the store stops answering (reads with a mark go to the primary).
   */
  shareMarks(shared: SharedMarks, onUnavailable?: (reason: string) => void): void {
    this.shared = shared;
    this.onMarksUnavailable = onUnavailable;
  }

  get sharesMarks(): boolean {
    return this.shared !== null;
  }

  /** The replicas' hosts, for the start-up line. */
  get hosts(): DatabaseHost[] {
    return this.replicas.map((replica) => replica.host);
  }

  /**
   * Records that `credential` just wrote: its stale-OK reads wait for replicas to replay this far. Called
   * after the writes committed. If the primary cannot say, the credential's reads stay on the primary a while.
   */
  async recordWrite(credential: string): Promise<void> {
    this.counts.marks += 1;
    let lsn: bigint;
    let keep = MARK_KEEP_MS;
    try {
      const { rows } = await this.primary.pool.query<{ lsn: string }>(WRITE_MARK_SQL);
      lsn = parseLsn(rows[0].lsn);
    } catch {
      lsn = MAX_LSN;
      keep = UNKNOWN_MARK_KEEP_MS;
    }
    const now = Date.now();
    const previous = this.marks.get(credential);
    if (previous === undefined || previous.until < now || previous.lsn < lsn) {
      this.marks.set(credential, { lsn, until: now + keep });
    }
    if (this.marks.size > 10_000) this.forgetOldMarks(now);
    if (this.shared !== null) {
      try {
        await this.shared.record(credential, lsn, keep);
        this.sharedUp();
      } catch (error) {
        this.sharedDown(error);
      }
    }
  }

  /** The mark a read must wait for: this instance's, or a larger one another instance shared. */
  private async markFor(credential: string): Promise<bigint | undefined> {
    const local = this.markOf(credential);
    if (this.shared === null) return local;
    try {
      const shared = await this.shared.get(credential);
      this.sharedUp();
      if (shared === undefined) return local;
      return local === undefined || shared > local ? shared : local;
    } catch (error) {
      // Without the shared marks another instance's write may be unknown here: the primary is safe.
      this.sharedDown(error);
      return MAX_LSN;
    }
  }

  private sharedDown(error: unknown): void {
    if (this.sharedFailing) return;
    this.sharedFailing = true;
    this.onMarksUnavailable?.(error instanceof Error ? error.message : String(error));
  }

  private sharedUp(): void {
    this.sharedFailing = false;
  }

  /** The write mark a credential's reads must see, if any. */
  markOf(credential: string): bigint | undefined {
    const mark = this.marks.get(credential);
    if (mark === undefined) return undefined;
    if (mark.until < Date.now()) {
      this.marks.delete(credential);
      return undefined;
    }
    return mark.lsn;
  }

  /**
   * Runs a read that may be slightly stale: on a replica that has replayed the caller's last write, else on
   * the primary. A replica failing mid-read (connection lost, a recovery conflict) reruns it on the primary.
   */
  async stale<T>(read: (target: ReadTarget) => Promise<T>): Promise<T> {
    const replica = await this.choose();
    if (replica === null) {
      this.counts.primary += 1;
      return read(this.primary);
    }
    try {
      const result = await read(replica);
      this.counts.replica += 1;
      this.markUp(replica);
      return result;
    } catch (error) {
      if (!replicaFailure(error)) throw error;
      if (connectionFailure(error)) this.markDown(replica, error);
      this.counts.retriedOnPrimary += 1;
      this.counts.primary += 1;
      return read(this.primary);
    }
  }

  async close(): Promise<void> {
    for (const replica of this.replicas) {
      await replica.prisma.$disconnect();
      await replica.pool.end();
    }
  }

  private async choose(): Promise<Replica | null> {
    const state = scope.getStore();
    if (state === undefined) return null;
    const replica = this.pick();
    if (replica === null) return null;
    const mark = state.credential === null ? undefined : await this.markFor(state.credential);
    if (mark === undefined) return replica;
    if (mark === MAX_LSN) return null;
    const deadline = Date.now() + this.maxWaitMs;
    let waited = false;
    for (;;) {
      let replayed: bigint;
      try {
        replayed = await replica.replayLsn();
      } catch (error) {
        this.markDown(replica, error);
        return null;
      }
      if (replayed >= mark) {
        if (waited) this.counts.waited += 1;
        this.markUp(replica);
        return replica;
      }
      if (Date.now() + REPLAY_POLL_MS > deadline) {
        this.counts.lagged += 1;
        return null;
      }
      waited = true;
      await sleep(REPLAY_POLL_MS);
    }
  }

  /** The next replica that is not known to be down, round robin. */
  private pick(): Replica | null {
    const now = Date.now();
    for (let i = 0; i < this.replicas.length; i += 1) {
      const replica = this.replicas[(this.next + i) % this.replicas.length];
      if (replica.downUntil <= now) {
        this.next = (this.next + i + 1) % this.replicas.length;
        return replica;
      }
    }
    return null;
  }

  private markDown(replica: Replica, error: unknown): void {
    const wasUp = replica.downUntil === 0;
    replica.downUntil = Date.now() + REPLICA_RETRY_MS;
    if (wasUp) this.options.onUnreachable?.(replica.host, error instanceof Error ? error.message : String(error));
  }

  private markUp(replica: Replica): void {
    if (replica.downUntil === 0) return;
    replica.downUntil = 0;
    this.options.onReachable?.(replica.host);
  }

  private forgetOldMarks(now: number): void {
    for (const [credential, mark] of this.marks) if (mark.until < now) this.marks.delete(credential);
  }
}

// Failures of the replica rather than of the read: the connection (class 08, or no SQLSTATE at all),
// shutdown (57P01-57P03), a query cancelled by a conflict with recovery (40001 on a standby), and any
// Prisma failure (its errors carry no SQLSTATE we can trust here; a genuine one fails again on the primary).
const REPLICA_SQLSTATE = /^(08...|57P0[123]|40001)$/;

function replicaFailure(error: unknown): boolean {
  if (error instanceof pg.DatabaseError) return REPLICA_SQLSTATE.test(error.code ?? '');
  return true;
}

function connectionFailure(error: unknown): boolean {
  if (error instanceof pg.DatabaseError) return /^(08|57P0)/.test(error.code ?? '');
  const { code, message } = error as { code?: unknown; message?: unknown };
  return (
    (typeof code === 'string' && /^E[A-Z]/.test(code)) ||
    (typeof message === 'string' && /connect|terminated|timeout|closed/i.test(message))
  );
}

/** The host list's replicas, for the start-up line. */
export function describeReplicas(replicas: ReplicaSet): string {
  return replicas.hosts.map(describeHost).join(', ');
}
