import pg from 'pg';
import { type DatabaseHost, type TargetSessionAttrs, describeHost } from './database-url.core.js';

/**
 * Following the writable primary of a libpq-style host list, as libpq does with
 * `target_session_attrs=read-write`: every new connection goes to the host last found writable, is checked
 * again once connected, and any sign that the host stopped being the primary (the connection lost, the
 * server shutting down, a `read only transaction` refusal, the session reported read-only) makes the next
 * connection look again. pg-pool, Prisma's adapter (which draws on the same pool) and the event listener all
 * connect through `primaryClientClass`, so all of them follow a failover without a restart.
 */

/** How long one host may take to accept a probe connection. */
export const PROBE_TIMEOUT_MS_DEFAULT = 2_000;
/** A failed search is reused for this long, so a burst of new connections during a failover probes once. */
export const FAILED_SEARCH_REUSE_MS = 100;

// States that mean the host is not (or no longer) a writable primary: read_only_sql_transaction, admin and
// crash shutdown, cannot_connect_now (starting, or in recovery), and the connection exception class.
const NOT_PRIMARY_SQLSTATE = /^(25006|57P0[123]|08...)$/;

/**
 * No host of the list is a writable primary right now: during a failover, until the standby is promoted.
 * SQLSTATE 08001 (sqlclient_unable_to_establish_sqlconnection), as libpq reports it, so the API marks it
 * retryable.
 */
export class NoPrimaryError extends Error {
  readonly code = '08001';
  constructor(readonly verdicts: readonly string[]) {
    super(`no writable primary among the database hosts (${verdicts.join('; ')})`);
  }
}

/** The host a connection reached was not writable after all (it was demoted since it was last found). */
export class NotPrimaryError extends Error {
  readonly code = '08001';
}

export interface PrimaryLocatorOptions {
  hosts: readonly DatabaseHost[];
  targetSessionAttrs: TargetSessionAttrs;
  /** Everything but the host, as node-postgres reads it (the URL with its first host). */
  connectionString: string;
  probeTimeoutMs?: number;
  /** Told when the primary is found on a host other than the last one (and the first time). */
  onPrimary?: (host: DatabaseHost, previous: DatabaseHost | null) => void;
  /** Told when the primary is lost (the host it was on, and why). */
  onLost?: (host: DatabaseHost, reason: string) => void;
}

type Verdict = { ok: true } | { ok: false; reason: string };

export class PrimaryLocator {
  readonly hosts: readonly DatabaseHost[];
  readonly targetSessionAttrs: TargetSessionAttrs;
  private readonly connectionString: string;
  private readonly probeTimeoutMs: number;
  private current: DatabaseHost | null = null;
  private previous: DatabaseHost | null = null;
  private searching: Promise<DatabaseHost> | null = null;
  private lastFailure: { at: number; error: NoPrimaryError } | null = null;
  /** Searches run since start; tests read it to show that a burst of connections shares one. */
  searches = 0;

  constructor(private readonly options: PrimaryLocatorOptions) {
    this.hosts = options.hosts;
    this.targetSessionAttrs = options.targetSessionAttrs;
    this.connectionString = options.connectionString;
    this.probeTimeoutMs = options.probeTimeoutMs ?? PROBE_TIMEOUT_MS_DEFAULT;
  }

  /** The host last found writable, or null while none is known. */
  get primary(): DatabaseHost | null {
    return this.current;
  }

  /** The host to connect to: the one last found writable, or the result of a new search. */
  async find(): Promise<DatabaseHost> {
    if (this.current !== null) return this.current;
    if (this.searching !== null) return this.searching;
    if (this.lastFailure !== null && Date.now() - this.lastFailure.at < FAILED_SEARCH_REUSE_MS) {
      throw this.lastFailure.error;
    }
    this.searching = this.search().finally(() => {
      this.searching = null;
    });
    return this.searching;
  }

  /** A connection to `host` saw it stop being the primary: the next connection searches again. */
  lost(host: DatabaseHost, reason: string): void {
    if (this.current === null || !sameHost(this.current, host)) return;
    this.previous = this.current;
    this.current = null;
    this.options.onLost?.(host, reason);
  }

  /** A client of node-postgres's shape whose session lands on `host`. */
  newClient(host: DatabaseHost, overrides: pg.ClientConfig = {}): pg.Client {
    const client = new pg.Client({ ...overrides, connectionString: this.connectionString });
    // A connection string overrides explicit fields in node-postgres, so the host is set on the client itself.
    client.host = host.host;
    client.port = host.port;
    return client;
  }

  /** Whether a connected session is one the server may write through, from what it reported or by asking. */
  async verdict(client: pg.Client, reported: ReadonlyMap<string, string>): Promise<Verdict> {
    if (this.targetSessionAttrs === 'any') return { ok: true };
    // Postgres 14 and later report both at start-up (and on every change); older servers are asked.
    let inRecovery = reported.get('in_hot_standby');
    let readOnly = reported.get('default_transaction_read_only');
    if (inRecovery === undefined || readOnly === undefined) {
      const { rows } = await client.query<{ recovery: boolean; read_only: string }>(
        "SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS read_only",
      );
      inRecovery = rows[0].recovery ? 'on' : 'off';
      readOnly = rows[0].read_only;
    }
    if (inRecovery === 'on') return { ok: false, reason: 'in recovery (a standby)' };
    if (this.targetSessionAttrs === 'read-write' && readOnly === 'on') return { ok: false, reason: 'read-only' };
    return { ok: true };
  }

  private async search(): Promise<DatabaseHost> {
    this.searches += 1;
    // Every host at once, so a host that does not answer costs one probe timeout, not one per host; the first
    // writable host in the list's order wins, as in libpq.
    const verdicts = await Promise.all(this.hosts.map((host) => this.probe(host)));
    const index = verdicts.findIndex((verdict) => verdict.ok);
    if (index === -1) {
      const error = new NoPrimaryError(
        verdicts.map((verdict, i) => `${describeHost(this.hosts[i])}: ${verdict.ok ? 'ok' : verdict.reason}`),
      );
      this.lastFailure = { at: Date.now(), error };
      throw error;
    }
    const found = this.hosts[index];
    this.lastFailure = null;
    this.current = found;
    if (this.previous === null || !sameHost(this.previous, found)) this.options.onPrimary?.(found, this.previous);
    this.previous = found;
    return found;
  }

  private async probe(host: DatabaseHost): Promise<Verdict> {
    const client = this.newClient(host, {
      connectionTimeoutMillis: this.probeTimeoutMs,
      application_name: 'reward-ledger-locator',
    });
    const reported = reportedParameters(client);
    client.on('error', () => undefined);
    try {
      await client.connect();
      return await this.verdict(client, reported);
    } catch (error) {
      return { ok: false, reason: describeFailure(error) };
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/**
 * The client class for a pool (and any dedicated session) on a host list: it connects to the located
 * primary, refuses a session that is not writable, and reports to the locator whatever shows the host is no
 * longer the primary. Such a connection is then broken off, so the pool discards it rather than lending it
 * again.
 */
export function primaryClientClass(locator: PrimaryLocator): typeof pg.Client {
  class PrimaryClient extends pg.Client {
    private target: DatabaseHost | null = null;
    /** Set once the session was found writable; from then on a demotion retires it. */
    private verified = false;
    private readonly reported = reportedParameters(this);

    constructor(config?: string | pg.ClientConfig) {
      super(config);
      const plainConnect = pg.Client.prototype.connect.bind(this) as () => Promise<unknown>;
      const connect = async (): Promise<void> => {
        const target = await locator.find();
        this.target = target;
        this.host = target.host;
        this.port = target.port;
        try {
          await plainConnect();
        } catch (error) {
          locator.lost(target, describeFailure(error));
          throw error;
        }
        const verdict = await locator.verdict(this, this.reported).catch((error: unknown) => ({
          ok: false as const,
          reason: describeFailure(error),
        }));
        if (!verdict.ok) {
          locator.lost(target, verdict.reason);
          await this.end().catch(() => undefined);
          throw new NotPrimaryError(`${describeHost(target)} is not a writable primary: ${verdict.reason}`);
        }
        this.verified = true;
      };
      // pg-pool connects with a callback, Prisma's adapter and dedicated sessions with a promise.
      (this as { connect: unknown }).connect = (callback?: (error: Error | null, client?: pg.Client) => void) => {
        const connecting = connect();
        if (callback === undefined) return connecting.then(() => this);
        connecting.then(
          () => callback(null, this),
          (error: Error) => callback(error),
        );
        return undefined;
      };
      // A permanent listener: a lost connection is news for the locator whether or not anyone else listens.
      this.on('error', (error) => {
        if (this.target !== null) locator.lost(this.target, describeFailure(error));
      });
      this.connection.on('errorMessage', (message: { code?: string }) => {
        if (this.verified && NOT_PRIMARY_SQLSTATE.test(message.code ?? '')) {
          this.retire(`the server answered ${message.code}`);
        }
      });
      this.connection.on('parameterStatus', (message: { parameterName: string; parameterValue: string }) => {
        const demoted =
          (message.parameterName === 'in_hot_standby' && message.parameterValue === 'on') ||
          (message.parameterName === 'default_transaction_read_only' &&
            message.parameterValue === 'on' &&
            locator.targetSessionAttrs === 'read-write');
        if (this.verified && demoted) this.retire(`the server reported ${message.parameterName}=on`);
      });
    }

    /**
     * Breaks the connection off once the statement that showed the demotion has answered: the pool then
     * drops it (an idle client's error removes it; a lent one fails its next statement and is released broken).
     */
    private retire(reason: string): void {
      if (this.target === null || !this.verified) return;
      this.verified = false;
      locator.lost(this.target, reason);
      setImmediate(() => this.connection.stream.destroy(new NotPrimaryError(`connection retired: ${reason}`)));
    }
  }
  return PrimaryClient;
}

/**
 * A session of its own beside the pool (a LISTEN), made the way the pool makes its connections, so on a host
 * list it lands on, and follows, the primary too.
 */
export function dedicatedClient(pool: pg.Pool, overrides: pg.ClientConfig): pg.Client {
  const Client = (pool.options.Client as typeof pg.Client | undefined) ?? pg.Client;
  return new Client({ ...pool.options, ...overrides } as pg.ClientConfig);
}

/** The parameters a server reports with ParameterStatus, kept current for the life of the connection. */
function reportedParameters(client: pg.Client): Map<string, string> {
  const reported = new Map<string, string>();
  client.connection.on('parameterStatus', (message: { parameterName: string; parameterValue: string }) => {
    reported.set(message.parameterName, message.parameterValue);
  });
  return reported;
}

function sameHost(a: DatabaseHost, b: DatabaseHost): boolean {
  return a.host === b.host && a.port === b.port;
}

function describeFailure(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  // Not `instanceof Error`: errors from another realm (node's own, seen from a test sandbox) are errors too.
  const message =
    typeof (error as { message?: unknown })?.message === 'string' ? (error as Error).message : String(error);
  return typeof code === 'string' && !message.includes(code) ? `${code} ${message}` : message;
}
