import { startServer, type RunningServer, type ServerOptions } from '../../src/app';
import { connectDatabase, type Database } from '../../src/platform/db';
import { createLogger } from '../../src/platform/logger';
import { cloneTestDatabase, isCitusSuite } from './databases';

export const ADMIN_KEY = 'test-admin-key-0123456789abcdefghij';
export const TOKEN_SECRET = 'test-token-secret-0123456789abcdefghijklmnop';
export const WEBHOOK_SECRET_KEY = 'test-webhook-secret-key-0123456789abcdefghij';
export const GIFT_CARD_KEY = 'test-gift-card-key-0123456789abcdefghijklmn';

export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  data: T | null | undefined;
  errors: Array<{ message: string; path?: string[]; extensions: { code: string; retryable: boolean } }> | undefined;
}

export interface TestServer {
  url: string;
  /** This test file's own database, for a second server process. */
  databaseUrl: string;
  db: Database;
  server: RunningServer;
  /** Sends one GraphQL request over real HTTP, as the admin unless `secret` says otherwise (null: no header). */
  gql<T = Record<string, any>>(
    query: string,
    variables?: Record<string, unknown>,
    secret?: string | null,
  ): Promise<GraphQLResponse<T>>;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  logErrors?: boolean;
  /** Subscription limits and fan-out for this server (defaults otherwise). */
  realtime?: NonNullable<ServerOptions['config']['realtime']>;
  /** null: a server without a customer-token key. */
  tokenSecret?: string | null;
  /** null: a server without a gift card key (gift cards off). */
  giftCardKey?: string | null;
  graphiqlHeaders?: Record<string, string>;
  graphiql?: boolean;
  /** Seconds between scheduler passes; 0 (the default here) leaves the clock to the test (scheduler.tick). */
  schedulerIntervalSeconds?: number;
  /** Collects every log line the server writes (info and above), for tests of logging itself. */
  logLines?: string[];
  /** Stale-OK reads on these replicas (DATABASE_READ_URL), and how long they wait for a caller's write. */
  readReplica?: { url: string; maxWaitMs?: number; logLines?: string[] };
  /** Per-credential rate limit; off (0) unless a test asks for one. */
  rateLimitPerSecond?: number;
  rateLimitBurst?: number;
  /** Shares the rate-limit buckets through this Redis, under this key prefix. */
  redis?: { url: string; keyPrefix: string };
  /**
   * Webhook timing for this server, and whether private targets are allowed (true here unless said: test
   * receivers listen on 127.0.0.1). By default the dispatcher and workers poll only every 10 minutes, so
   * that tests that count statements see none of theirs; a test of webhooks asks for a short interval.
   */
  webhooks?: NonNullable<ServerOptions['config']['webhooks']> & { allowPrivateNetworks?: boolean };
  /**
   * How often the continuous reconciliation matcher polls (ms). By default every 10 minutes, like the
   * webhook dispatcher here, so that tests that count statements see none of its; commits still nudge it
   * once a pass has seen a continuous source. A test of continuous matching asks for a short interval.
   */
  reconciliationPollIntervalMs?: number;
  /** false: POST /graphql through express, as before the fast path (app.ts graphqlFastPath). */
  graphqlFastPath?: boolean;
  /** The database to serve, dropped by stop(); by default a clone of the migrated template. */
  database?: { url: string; drop(): Promise<void> };
}

/** A real server on a loopback port, over this test file's own database. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const database = options.database ?? (await cloneTestDatabase());
  const db = connectDatabase(
    database.url,
    20,
    {},
    options.readReplica === undefined
      ? undefined
      : {
          url: options.readReplica.url,
          maxWaitMs: options.readReplica.maxWaitMs,
          onUnreachable: (host, reason) =>
            options.readReplica?.logLines?.push(`read replica unreachable ${host.host}:${host.port}: ${reason}`),
          onReachable: (host) => options.readReplica?.logLines?.push(`read replica answers ${host.host}:${host.port}`),
        },
    { citus: isCitusSuite() },
  );
  const logger = options.logLines
    ? createLogger('info', (line) => options.logLines!.push(line))
    : createLogger('error', options.logErrors ? undefined : () => undefined);
  const server = await startServer({
    config: {
      host: '127.0.0.1',
      port: 0,
      environment: 'test',
      bodyLimitBytes: 1_048_576,
      postingAttemptsMax: 8,
      schedulerIntervalSeconds: options.schedulerIntervalSeconds ?? 0,
      introspection: true,
      schemaHints: true,
      rateLimitPerSecond: options.rateLimitPerSecond ?? 0,
      rateLimitBurst: options.rateLimitBurst ?? 1,
      redisUrl: options.redis?.url,
      redisKeyPrefix: options.redis?.keyPrefix,
      realtime: options.realtime,
      graphiql: options.graphiql,
      webhooks: { pollIntervalMs: 600_000, ...options.webhooks },
      webhookAllowPrivateNetworks: options.webhooks?.allowPrivateNetworks ?? true,
      reconciliationPollIntervalMs: options.reconciliationPollIntervalMs ?? 600_000,
      graphqlFastPath: options.graphqlFastPath,
    },
    db,
    logger,
    adminApiKey: ADMIN_KEY,
    tokenSecret: options.tokenSecret === null ? undefined : (options.tokenSecret ?? TOKEN_SECRET),
    webhookSecretKey: WEBHOOK_SECRET_KEY,
    giftCardKey: options.giftCardKey === null ? undefined : (options.giftCardKey ?? GIFT_CARD_KEY),
    graphiqlHeaders: options.graphiqlHeaders,
  });
  const url = `http://127.0.0.1:${server.port}/graphql`;
  return {
    url,
    databaseUrl: database.url,
    db,
    server,
    async gql(query, variables, secret = ADMIN_KEY) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (secret !== null) headers.authorization = `Bearer ${secret}`;
      const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      const body = (await response.json()) as { data?: any; errors?: any };
      return { status: response.status, data: body.data, errors: body.errors };
    },
    async stop() {
      await server.stop();
      await db.close();
      await database.drop();
    },
  };
}

/** The data of a response that must have succeeded; fails the test with the errors otherwise. */
export function ok<T>(response: GraphQLResponse<T>): T {
  if (response.errors?.length || !response.data) {
    throw new Error(`expected success, got ${JSON.stringify(response.errors)}`);
  }
  return response.data;
}

/** The single error code of a response that must have failed. */
export function errorCode(response: GraphQLResponse): string {
  if (!response.errors?.length) throw new Error(`expected an error, got ${JSON.stringify(response.data)}`);
  return response.errors[0]!.extensions.code;
}
