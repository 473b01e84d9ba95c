/**
 * The pure half of `WEB_CONCURRENCY` workers (workers.ts, worker-link.ts): the messages a worker and the
 * primary exchange over node:cluster's IPC channel, the table of requests awaiting a reply, and when the
 * primary restarts a worker that died. No I/O here; the clock and timers are passed in.
 */

/** Marks this protocol's messages: the channel also carries node's own and prom-client's. */
export const IPC_TAG = 'reward-ledger/v1';

/** What a worker asks the primary. */
export type WorkerRequest =
  | { kind: 'setup' }
  | { kind: 'rateLease'; key: string; wanted: number }
  | { kind: 'metrics' }
  | { kind: 'markRecord'; credential: string; lsn: string; keepMs: number }
  | { kind: 'markGet'; credential: string };

/** What the primary hands a worker before it starts: what only the primary knows or generated. */
export interface WorkerSetup {
  /** 1..WEB_CONCURRENCY; a replacement takes the slot of the worker it replaces. */
  slot: number;
  /** WEB_CONCURRENCY: how many workers share the rate-limit buckets. */
  workers: number;
  /** Exactly one slot runs the scheduler (expiry, hold timeouts). */
  runsScheduler: boolean;
  databaseUrl: string;
  adminApiKey: string | undefined;
  tokenSecret: string | undefined;
  webhookSecretKey: string | undefined;
  giftCardKey: string | undefined;
  graphiqlHeaders: Record<string, string> | undefined;
}

/** The reply each request kind gets. */
export interface WorkerReplies {
  setup: WorkerSetup;
  /** Requests' worth taken from the credential's bucket for the worker to spend; 0 with a retry hint. */
  rateLease: { granted: number; retryAfterSeconds: number };
  metrics: { contentType: string; text: string };
  markRecord: null;
  /** An LSN as a decimal string (IPC carries JSON: no bigint), or null when there is no mark. */
  markGet: string | null;
}

export interface RequestMessage {
  tag: typeof IPC_TAG;
  id: number;
  request: WorkerRequest;
}

export type ReplyMessage =
  | { tag: typeof IPC_TAG; id: number; ok: true; value: unknown }
  | { tag: typeof IPC_TAG; id: number; ok: false; error: string };

/**
 * What a worker publishes to its siblings on a named channel, relayed by the primary (`events`: the fan-out
 * of EVENT_FANOUT=local, events.ClusterFanout).
 */
export interface BroadcastMessage {
  tag: typeof IPC_TAG;
  channel: string;
  broadcast: string[];
}

function tagged(message: unknown): message is Record<string, unknown> {
  return typeof message === 'object' && message !== null && (message as { tag?: unknown }).tag === IPC_TAG;
}

export function isRequest(message: unknown): message is RequestMessage {
  return (
    tagged(message) &&
    typeof message.id === 'number' &&
    typeof message.request === 'object' &&
    message.request !== null &&
    typeof (message.request as { kind?: unknown }).kind === 'string'
  );
}

export function isReply(message: unknown): message is ReplyMessage {
  return tagged(message) && typeof message.id === 'number' && typeof message.ok === 'boolean';
}

export function isBroadcast(message: unknown): message is BroadcastMessage {
  return (
    tagged(message) &&
    typeof message.channel === 'string' &&
    Array.isArray(message.broadcast) &&
    message.broadcast.every((item: unknown) => typeof item === 'string')
  );
}

export class IpcTimeoutError extends Error {
  constructor(kind: string, timeoutMs: number) {
    super(`the primary process did not answer ${kind} within ${timeoutMs} ms`);
  }
}

interface Timers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const REAL_TIMERS: Timers = {
  set: (callback, ms) => setTimeout(callback, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Requests sent and not yet answered, by id. Each fails after its timeout; a reply for an unknown id (one
 * that timed out) is ignored. Ids wrap before they stop being exact integers.
 */
export class PendingRequests {
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve(value: unknown): void; reject(error: Error): void; timer: unknown }
  >();

  constructor(
    private readonly timeoutMs: number,
    private readonly timers: Timers = REAL_TIMERS,
  ) {}

  get size(): number {
    return this.waiting.size;
  }

  /** A message to send and the promise of its reply. */
  open<K extends WorkerRequest['kind']>(
    request: Extract<WorkerRequest, { kind: K }>,
    timeoutMs: number = this.timeoutMs,
  ): { message: RequestMessage; reply: Promise<WorkerReplies[K]> } {
    const id = this.nextId;
    this.nextId = this.nextId >= Number.MAX_SAFE_INTEGER ? 1 : this.nextId + 1;
    const reply = new Promise<WorkerReplies[K]>((resolve, reject) => {
      const timer = this.timers.set(() => {
        this.waiting.delete(id);
        reject(new IpcTimeoutError(request.kind, timeoutMs));
      }, timeoutMs);
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
    });
    return { message: { tag: IPC_TAG, id, request }, reply };
  }

  /** Settles the request a reply answers; false when none waits for it. */
  settle(reply: ReplyMessage): boolean {
    const entry = this.waiting.get(reply.id);
    if (entry === undefined) return false;
    this.waiting.delete(reply.id);
    this.timers.clear(entry.timer);
    if (reply.ok) entry.resolve(reply.value);
    else entry.reject(new Error(reply.error));
    return true;
  }

  /** Fails every request still waiting (the channel closed, or could not send). */
  failAll(error: Error): void {
    for (const [id, entry] of this.waiting) {
      this.waiting.delete(id);
      this.timers.clear(entry.timer);
      entry.reject(error);
    }
  }

  /** Fails one request (its message could not be sent). */
  fail(id: number, error: Error): void {
    const entry = this.waiting.get(id);
    if (entry === undefined) return;
    this.waiting.delete(id);
    this.timers.clear(entry.timer);
    entry.reject(error);
  }
}

/** A lease is this much of the rate's time: small enough that a worker holds little of a credential's bucket. */
export const LEASE_RATE_SECONDS = 0.05;
/** Tokens of a lease not spent within this long are dropped (never given back: a lease only makes limits stricter). */
export const LEASE_MAX_AGE_MS = 1_000;

/**
 * How many requests' worth a worker takes from the primary's bucket at once: 50 ms of the rate, at most a
 * share of the burst that leaves every worker room, at least one. Tokens are taken from the one bucket before
 * they are spent, so workers together never exceed the limit; a lease only spares a round trip per request.
 */
export function leaseSize(ratePerSecond: number, burst: number, workers: number): number {
  return Math.max(1, Math.min(Math.ceil(ratePerSecond * LEASE_RATE_SECONDS), Math.floor(burst / (2 * workers))));
}

/** Restarts wait from this long, doubling per recent crash, up to the maximum. */
export const RESTART_DELAY_MS_MIN = 100;
export const RESTART_DELAY_MS_MAX = 5_000;
/** This many crashes of one slot within the window is a crash loop: the primary stops the server. */
export const CRASH_LOOP_CRASHES = 5;
export const CRASH_LOOP_WINDOW_MS = 60_000;

export type RestartPlan =
  | { giveUp: false; delayMs: number; recentCrashes: number[] }
  | { giveUp: true; recentCrashes: number[] };

/**
 * What to do when a slot's worker dies at `now`, given when it died before: restart it after a delay that
 * grows with the crashes of the last window, or give up once they reach `CRASH_LOOP_CRASHES`.
 */
export function planRestart(previousCrashes: readonly number[], now: number): RestartPlan {
  const recentCrashes = [...previousCrashes.filter((at) => now - at < CRASH_LOOP_WINDOW_MS), now];
  if (recentCrashes.length >= CRASH_LOOP_CRASHES) return { giveUp: true, recentCrashes };
  const delayMs = Math.min(RESTART_DELAY_MS_MAX, RESTART_DELAY_MS_MIN * 2 ** (recentCrashes.length - 1));
  return { giveUp: false, delayMs, recentCrashes };
}

/** Write marks the primary keeps for its workers when there is no Redis; past this the oldest go. */
export const WRITE_MARKS_MAX = 100_000;

/**
 * The read replicas' write marks (read-replica.ts `SharedMarks`) as the primary keeps them for its
 * workers: the same rule as the Redis script, the larger LSN wins and lives as long as it asked.
 */
export class WriteMarks {
  private readonly marks = new Map<string, { lsn: bigint; until: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  record(credential: string, lsn: bigint, keepMs: number): void {
    const now = this.now();
    const current = this.marks.get(credential);
    if (current !== undefined && current.until > now && current.lsn >= lsn) return;
    this.marks.delete(credential);
    this.marks.set(credential, { lsn, until: now + keepMs });
    // Insertion order is recording order: the first entries are the oldest.
    for (const [key, mark] of this.marks) {
      if (this.marks.size <= WRITE_MARKS_MAX && mark.until > now) break;
      this.marks.delete(key);
    }
  }

  get(credential: string): bigint | undefined {
    const mark = this.marks.get(credential);
    return mark !== undefined && mark.until > this.now() ? mark.lsn : undefined;
  }
}
