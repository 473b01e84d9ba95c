import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import { GraphQLError } from 'graphql';
import {
  API_KEY_CACHE_MS_DEFAULT,
  DEFAULT_REALTIME,
  DEFAULT_WEBHOOKS,
  type Config,
  type RealtimeConfig,
  type WebhookConfig,
} from './platform/config.js';
import type { Database } from './platform/db.js';
import type { Logger } from './platform/logger.js';
import { DomainError } from './platform/errors.js';
import { classifyError, ERROR_CATALOG, formatGraphQLError } from './platform/graphql-errors.js';
import { QUERY_TOKENS_MAX, queryBoundsRule } from './platform/depth-limit.js';
import { rejectUnacceptableText } from './platform/request-hygiene.js';
import { isPlainGraphQLPost, serveGraphQLPost } from './platform/graphql-http.js';
import { createMetrics } from './platform/metrics.js';
import { RateLimiter, type RateDecision } from './platform/rate-limit.js';
import { RedisClient } from './platform/redis-client.js';
import { inReadScope, redisMarks, setReadCredential } from './platform/read-replica.js';
import { readReplicaPlugin } from './platform/read-replica.plugin.js';
import { parseRedisUrl } from './platform/resp.core.js';
import { SharedRateLimiter } from './platform/shared-rate-limit.js';
import { PrimaryRateLimiter, type PrimaryLink } from './platform/worker-link.js';
import { requestLogPlugin } from './platform/request-log.plugin.js';
import { httpSubscriptionPlugin } from './platform/http-subscription.plugin.js';
import { isApplied, readMigrations } from './platform/migrations.js';
import { buildLedgerSchema } from './schema.js';
import { createRequestContext, type RequestContext, type Services } from './context.js';
import { LedgerService } from './ledgers/ledger.service.js';
import { AssetService } from './assets/asset.service.js';
import { AccountService } from './accounts/account.service.js';
import { TransactionService } from './transactions/transaction.service.js';
import { PostingService } from './postings/postings.service.js';
import { LimitService } from './limits/limit.service.js';
import { AccountFactsCache } from './postings/account-facts.js';
import { PostingEngine, type PostingObserver } from './postings/posting-engine.js';
import { BalanceHistoryService } from './accounts/balance-history.service.js';
import { LotService } from './lots/lots.service.js';
import { ExpiryService } from './jobs/expiry.service.js';
import { Scheduler } from './jobs/scheduler.js';
import { IntegrityService } from './integrity/integrity.service.js';
import { AuditService } from './audit/audit.service.js';
import { ApiKeyService } from './auth/api-key.service.js';
import { Authenticator } from './auth/authenticator.js';
import { CustomerTokenService } from './auth/customer-token.service.js';
import type { LedgerEvents } from './events/ledger-events.js';
import { EventHub } from './events/event-hub.js';
import { localOnlyFanout, type Fanout } from './events/fanout.js';
import { PgNotifyFanout } from './events/pg-notify.fanout.js';
import { ClusterFanout } from './events/cluster.fanout.js';
import { postingLoader } from './events/posting-loader.js';
import { EventFeed } from './events/feed.service.js';
import { SubscriptionService } from './subscriptions/subscription.service.js';
import { attachWebSocketServer, type WebSocketEndpoint } from './subscriptions/ws-server.js';
import { mountGraphiQL } from './graphiql/graphiql.routes.js';
import { WebhookService } from './webhooks/webhooks.service.js';
import { ConversionService } from './conversions/conversion.service.js';
import { GiftCardService } from './giftcards/giftcard.service.js';
import { GiftCardSecrets } from './giftcards/giftcard.secrets.js';
import { Dispatcher } from './webhooks/dispatcher.js';
import { DeliveryWorker, unobservedWebhooks, type WebhookObserver } from './webhooks/delivery-worker.js';
import { WebhookSender, type WebhookNetwork } from './webhooks/sender.js';
import { guardedNetwork } from './webhooks/network-guard.js';
import { deriveSecretKey } from './webhooks/signing.core.js';
import { RunEvents } from './reconciliation/run-events.js';
import { RunService } from './reconciliation/run.service.js';
import { ResolutionService } from './reconciliation/resolution.service.js';
import { ReportService } from './reconciliation/report.service.js';
import { mountReportRoute } from './reconciliation/report.routes.js';
import { ContinuousMatcher } from './reconciliation/continuous.js';
import { SourceService } from './reconciliation/source.service.js';
import { RecordService } from './reconciliation/record.service.js';
import { ImportService } from './reconciliation/import.service.js';
import { mountImportRoute } from './reconciliation/import.routes.js';

export interface ServerOptions {
  config: Pick<
    Config,
    | 'host'
    | 'port'
    | 'environment'
    | 'bodyLimitBytes'
    | 'postingAttemptsMax'
    | 'schedulerIntervalSeconds'
    | 'introspection'
    | 'schemaHints'
    | 'rateLimitPerSecond'
    | 'rateLimitBurst'
  > &
    Partial<Pick<Config, 'apiKeyCacheMs' | 'redisUrl' | 'redisKeyPrefix'>> & {
      /** Defaults to DEFAULT_REALTIME (LISTEN/NOTIFY fan-out). */
      realtime?: Partial<RealtimeConfig>;
      /** Defaults to on. */
      graphiql?: boolean;
      /** Defaults to DEFAULT_WEBHOOKS. */
      webhooks?: Partial<WebhookConfig>;
      /** Defaults to false: webhook targets on private networks are refused. */
      webhookAllowPrivateNetworks?: boolean;
      /** How often the continuous reconciliation matcher polls (ms); commits also nudge it. 0: off. */
      reconciliationPollIntervalMs?: number;
      /**
       * Internal switch, not configuration: false answers every POST /graphql through express, as before
       * the fast path (platform/graphql-http.ts) existed, so tests can compare the two. Defaults to true.
       */
      graphqlFastPath?: boolean;
    };
  db: Database;
  logger: Logger;
  adminApiKey: string | undefined;
  /** Signs customer tokens; without it createCustomerToken is refused and tokens are not accepted. */
  tokenSecret?: string;
  /** Encrypts webhook signing secrets at rest; without it webhooks are off. */
  webhookSecretKey?: string;
  /** Keys the HMAC gift card codes are stored under; without it gift cards are off. */
  giftCardKey?: string;
  /** Headers GraphiQL starts with (embedded development mode pre-fills the generated admin key). */
  graphiqlHeaders?: Record<string, string>;
  /** Also receives every committed posting, besides the subscriptions' hub. */
  events?: LedgerEvents;
  /**
   * Set in a worker of `WEB_CONCURRENCY` > 1 (main.ts): its link to the primary, which keeps what the
   * workers must share (rate-limit buckets and write marks without Redis, metrics, local events).
   */
  primary?: PrimaryLink;
}

export interface RunningServer {
  url: string;
  port: number;
  httpServer: http.Server;
  services: Services;
  hub: EventHub;
  websocket: WebSocketEndpoint;
  scheduler: Scheduler;
  /** Null when webhooks are off (no WEBHOOK_SECRET_KEY). */
  webhooks: WebhookRuntime | null;
  /** Continuous reconciliation: matches continuous sources' records and postings as they arrive. */
  reconciliation: ContinuousMatcher;
  stop(): Promise<void>;
}

/** The background half of webhooks: feed events into deliveries, deliveries to partners. */
export interface WebhookRuntime {
  dispatcher: Dispatcher;
  worker: DeliveryWorker;
}

export interface ServiceOptions {
  adminApiKey: string | undefined;
  tokenSecret: string | undefined;
  postingAttemptsMax: number;
  fanout: (origin: string) => Fanout;
  logger: Logger;
  events?: LedgerEvents;
  postingObserver?: PostingObserver;
  /** How long a verified API key is trusted without a database lookup. */
  apiKeyCacheMs?: number;
  webhookSecretKey?: string;
  webhooks?: Partial<WebhookConfig>;
  webhookAllowPrivateNetworks?: boolean;
  /** The network the webhook sender uses; by default the guarded one (network-guard.ts). */
  webhookNetwork?: WebhookNetwork;
  webhookObserver?: WebhookObserver;
  giftCardKey?: string;
  reconciliationPollIntervalMs?: number;
}

export function createServices(
  db: Database,
  options: ServiceOptions,
): {
  services: Services;
  hub: EventHub;
  engine: PostingEngine;
  webhooks: WebhookRuntime | null;
  reconciliation: ContinuousMatcher;
} {
  const ledgers = new LedgerService(db);
  const feed = new EventFeed(db);
  const webhookConfig: WebhookConfig = { ...DEFAULT_WEBHOOKS, ...options.webhooks };
  const allowPrivate = options.webhookAllowPrivateNetworks ?? false;
  const webhookKey = options.webhookSecretKey === undefined ? null : deriveSecretKey(options.webhookSecretKey);
  let webhooks: WebhookRuntime | null = null;
  if (webhookKey !== null) {
    // Names this instance in its claims; the random part tells apart processes that share a host and pid.
    const claimant = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    const sender = new WebhookSender(options.webhookNetwork ?? guardedNetwork(allowPrivate), webhookConfig.timeoutMs);
    const worker = new DeliveryWorker(
      db,
      feed,
      sender,
      webhookKey,
      webhookConfig,
      options.logger,
      claimant,
      options.postingAttemptsMax,
      options.webhookObserver,
    );
    const dispatcher = new Dispatcher(
      db,
      feed,
      options.logger,
      webhookConfig.pollIntervalMs,
      options.postingAttemptsMax,
      webhookConfig.deliveryRetentionDays,
      (made) => {
        (options.webhookObserver ?? unobservedWebhooks).deliveriesMade(made);
        worker.poke();
      },
    );
    webhooks = { dispatcher, worker };
  }
  const assets = new AssetService(db, ledgers);
  const accounts = new AccountService(db, ledgers);
  const transactions = new TransactionService(db);
  const hub = new EventHub(options.fanout, postingLoader(transactions, accounts), options.logger);
  const extra = options.events;
  const dispatcher = webhooks?.dispatcher;
  const reconciliation = new ContinuousMatcher(
    db,
    feed,
    options.logger,
    options.reconciliationPollIntervalMs ?? RECONCILIATION_POLL_INTERVAL_MS,
    options.postingAttemptsMax,
  );
  const events: LedgerEvents = {
    committed: (posting) => {
      hub.committed(posting);
      extra?.committed(posting);
      dispatcher?.nudge();
      reconciliation.nudge();
    },
  };
  const accountFacts = new AccountFactsCache(db.pool, db.roots);
  const engine = new PostingEngine(
    db,
    assets,
    accountFacts,
    transactions,
    options.postingAttemptsMax,
    events,
    options.postingObserver,
  );
  const postings = new PostingService(db, ledgers, assets, accounts, accountFacts, transactions, engine);
  const apiKeys = new ApiKeyService(db, ledgers, options.adminApiKey, hub, options.apiKeyCacheMs ?? 0);
  hub.observeRevocation = (keyId) => apiKeys.forget(keyId);
  const customerTokens = new CustomerTokenService(db, ledgers, accounts, options.tokenSecret);
  const authenticator = new Authenticator(apiKeys, customerTokens);
  const subscriptions = new SubscriptionService(hub, accounts, transactions, ledgers, db);
  // Runs announced by other instances are read back through the run service (made just below).
  const runEvents = new RunEvents(
    hub,
    async (run) => (await reconciliationRuns.fetchByIds([run.runId]))[0] ?? null,
    options.logger,
  );
  const reconciliationRuns = new RunService(db, ledgers, runEvents, options.logger, options.postingAttemptsMax);
  const reconciliationSources = new SourceService(db, ledgers, options.postingAttemptsMax);
  const services: Services = {
    ledgers,
    assets,
    accounts,
    balanceHistory: new BalanceHistoryService(db, options.postingAttemptsMax),
    transactions,
    postings,
    lots: new LotService(db),
    expiry: new ExpiryService(db, engine, postings),
    integrity: new IntegrityService(db),
    audit: new AuditService(db),
    apiKeys,
    customerTokens,
    authenticator,
    subscriptions,
    events: feed,
    webhooks: new WebhookService(
      db,
      ledgers,
      feed,
      webhookConfig,
      options.postingAttemptsMax,
      allowPrivate,
      webhookKey,
      () => webhooks?.worker ?? null,
    ),
    conversions: new ConversionService(db, ledgers, assets, accountFacts, transactions, engine),
    giftCards: new GiftCardService(
      db,
      ledgers,
      assets,
      accounts,
      transactions,
      postings,
      engine,
      options.postingAttemptsMax,
      options.giftCardKey === undefined ? null : new GiftCardSecrets(Buffer.from(options.giftCardKey, 'utf8')),
    ),
    limits: new LimitService(db, ledgers, assets, options.postingAttemptsMax),
    reconciliationRuns,
    reconciliationResolutions: new ResolutionService(db, reconciliationRuns, engine, postings, assets),
    reconciliationReports: new ReportService(db, reconciliationRuns),
    reconciliationSources,
    reconciliationRecords: new RecordService(db, reconciliationSources),
    reconciliationImports: new ImportService(db, reconciliationSources, assets),
  };
  return { services, hub, engine, webhooks, reconciliation };
}

/** The continuous reconciliation matcher's default poll; commits on this instance nudge it sooner. */
export const RECONCILIATION_POLL_INTERVAL_MS = 1_000;

// A client-supplied request id is echoed only when it is short and plain.
/**
 * Where rate-limit buckets live: in this process when limits are off or nothing is shared; in Redis
 * (REDIS_URL) across instances; else in the primary process across its workers (WEB_CONCURRENCY > 1).
 */
function chooseRateLimiter(
  local: RateLimiter,
  redis: RedisClient | null,
  primary: PrimaryLink | undefined,
  config: Pick<Config, 'rateLimitPerSecond' | 'rateLimitBurst' | 'redisKeyPrefix'>,
  logger: Logger,
): { take(key: string): RateDecision | Promise<RateDecision> } {
  if (!local.enabled) return local;
  const rates = { ratePerSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst };
  if (redis !== null)
    return new SharedRateLimiter(redis, local, {
      ...rates,
      keyPrefix: config.redisKeyPrefix ?? 'reward-ledger:rate:',
      onFallback: (error) =>
        logger.warn('Redis is unreachable: rate limits are per instance until it answers', { error }),
      onRecovered: () => logger.info('Redis answers again: rate limits are shared across instances'),
    });
  if (primary === undefined) return local;
  return new PrimaryRateLimiter(
    primary,
    local,
    { ...rates, workers: primary.workers },
    {
      onFallback: (error) =>
        logger.warn('the primary process does not answer: rate limits are per worker until it does', { error }),
      onRecovered: () => logger.info('the primary process answers again: rate limits are shared by workers'),
    },
  );
}

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Builds and starts the server: GraphQL over HTTP and WebSocket at /graphql, the GraphiQL IDE at
 * /graphiql, health at /healthz and /readyz.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { config, db, logger, primary } = options;
  const realtime: RealtimeConfig = { ...DEFAULT_REALTIME, ...config.realtime };
  // Metrics read the WebSocket endpoint and the hub, which exist only further down.
  let endpoint: WebSocketEndpoint | undefined;
  let eventHub: EventHub | undefined;
  const metrics = createMetrics({
    pool: db.pool,
    webSocketConnections: () => endpoint?.connectionCount() ?? 0,
    subscriptions: () => eventHub?.listenerCount() ?? 0,
    ...(db.replicas === null ? {} : { staleReads: () => db.replicas!.counts }),
  });
  const localLimiter = new RateLimiter(config.rateLimitPerSecond, config.rateLimitBurst);
  // With REDIS_URL the buckets are shared by every instance; without, each instance enforces the limit alone.
  // Redis also shares the read replicas' write marks (read-replica.ts) when there are replicas.
  const redis =
    config.redisUrl !== undefined && (localLimiter.enabled || db.replicas !== null)
      ? new RedisClient(parseRedisUrl(config.redisUrl))
      : null;
  if (redis !== null && db.replicas !== null) {
    db.replicas.shareMarks(redisMarks(redis, `${config.redisKeyPrefix ?? 'reward-ledger:rate:'}lsn:`), (reason) =>
      logger.warn('Redis is unreachable: reads with a recent write go to the primary until it answers', {
        reason,
      }),
    );
  } else if (primary !== undefined && db.replicas !== null) {
    // Without Redis, sibling workers share their marks through the primary process.
    db.replicas.shareMarks(primary.marks(), (reason) =>
      logger.warn('the primary process does not answer: reads with a recent write go to the database primary', {
        reason,
      }),
    );
  }
  const limiter = chooseRateLimiter(localLimiter, redis, primary, config, logger);
  const { services, hub, engine, webhooks, reconciliation } = createServices(db, {
    postingObserver: {
      posting: (kind, outcome) => metrics.postings.inc({ kind, outcome }),
      retry: () => metrics.retries.inc(),
    },
    adminApiKey: options.adminApiKey,
    tokenSecret: options.tokenSecret,
    postingAttemptsMax: config.postingAttemptsMax,
    fanout: (origin) => {
      if (realtime.fanout === 'postgres') return new PgNotifyFanout(origin, db.pool, logger);
      // "local" is this server: with workers, all of them, through the primary process.
      return primary === undefined ? localOnlyFanout : new ClusterFanout(origin, primary);
    },
    logger,
    events: options.events,
    apiKeyCacheMs: config.apiKeyCacheMs ?? API_KEY_CACHE_MS_DEFAULT,
    webhookSecretKey: options.webhookSecretKey,
    giftCardKey: options.giftCardKey,
    webhooks: config.webhooks,
    webhookAllowPrivateNetworks: config.webhookAllowPrivateNetworks,
    reconciliationPollIntervalMs: config.reconciliationPollIntervalMs,
    webhookObserver: {
      attempt: (outcome) => metrics.webhookAttempts.inc({ outcome }),
      deliveriesMade: (count) => metrics.webhookDeliveries.inc(count),
    },
  });
  eventHub = hub;
  hub.observeDeliveryLag = (seconds) => metrics.deliveryLag.observe(seconds);
  await hub.start();
  const exposeDetails = config.environment === 'development';
  const app = express();
  app.disable('x-powered-by');
  // GraphQL answers are never revalidated by ETag, and hashing every response body cost ~1% of a read's CPU.
  app.disable('etag');
  // Requests reach `app` (or the GraphQL fast path) through the handler installed once all routes exist.
  const httpServer = http.createServer();
  const schema = await buildLedgerSchema();

  const apollo = new ApolloServer<RequestContext>({
    schema,
    validationRules: [queryBoundsRule],
    parseOptions: { maxTokens: QUERY_TOKENS_MAX },
    introspection: config.introspection,
    // Apollo's guard wants a header that forces a CORS preflight on any request a browser could send
    // cross-site with cookies. Authorization is such a header (not CORS-safelisted), and every request to
    // this API carries it, so clients such as urql, which send queries as plain GETs, need nothing more;
    // a simple request without it (no credentials, so no ambient authority anyway) is still refused.
    csrfPrevention: { requestHeaders: ['authorization', 'x-apollo-operation-name', 'apollo-require-preflight'] },
    // Off in production by default: "did you mean" hints describe the schema to whoever probes it.
    hideSchemaDetailsFromClientErrors: !config.schemaHints,
    includeStacktraceInErrorResponses: false,
    // main.ts owns shutdown order (drain HTTP, close the pool, stop an embedded database).
    stopOnTerminationSignals: false,
    formatError: (formatted, error) => formatGraphQLError(formatted, error, exposeDetails),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      // Apollo installs cache-control by default; it wraps every field resolver to collect cache hints
      // that this API never sets (no @cacheControl, responses are per credential), at a cost on every field.
      ApolloServerPluginCacheControlDisabled(),
      requestLogPlugin(logger, metrics),
      httpSubscriptionPlugin(),
      ApolloServerPluginLandingPageDisabled(),
      ...(db.replicas === null ? [] : [readReplicaPlugin(db.replicas)]),
      {
        async requestDidStart() {
          return {
            async didEncounterErrors({ errors, contextValue }) {
              for (const error of errors) {
                if (classifyError(error).unexpected) {
                  logger.error('unexpected error', {
                    requestId: contextValue?.origin?.requestId,
                    error: error.originalError ?? error,
                  });
                }
              }
            },
          };
        },
      },
    ],
  });
  await apollo.start();
  endpoint = attachWebSocketServer({
    httpServer,
    schema,
    services,
    hub,
    limits: realtime,
    logger,
    exposeDetails,
    replicas: db.replicas,
  });
  const websocket = endpoint;

  const latestMigration = (await readMigrations()).at(-1)?.name;

  // Once shutdown begins, requests arriving on kept-alive connections are turned away, and told to
  // close; work already in flight runs to completion (Apollo's drain plugin waits for it).
  let draining = false;
  app.use((_req, res, next) => {
    if (!draining) return next();
    res.setHeader('Connection', 'close');
    res.status(503).json({
      errors: [
        {
          message: 'the server is shutting down; retry against another instance',
          extensions: { code: 'INTERNAL_SERVER_ERROR', retryable: true },
        },
      ],
    });
  });

  app.use((req, res, next) => {
    const offered = req.get('x-request-id');
    const requestId = offered && REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    // Stale-OK reads of this request may go to a read replica (DATABASE_READ_URL); see read-replica.ts.
    if (db.replicas === null) next();
    else inReadScope(next);
  });

  if (config.graphiql ?? true) mountGraphiQL(app, { headers: options.graphiqlHeaders, logger });

  app.get('/healthz', (_req, res) => {
    res.json({
      status: 'ok',
      websocket: {
        connections: websocket.connectionCount(),
        subscriptions: hub.listenerCount() + services.reconciliationRuns.subscriberCount(),
      },
    });
  });

  // A worker answers for all workers (summed by the primary): a scrape must not depend on which one it hits.
  primary?.shareMetrics(metrics.registry);
  app.get('/metrics', async (_req, res) => {
    if (primary === undefined) {
      res.setHeader('Content-Type', metrics.registry.contentType);
      res.send(await metrics.registry.metrics());
      return;
    }
    try {
      const all = await primary.clusterMetrics();
      res.setHeader('Content-Type', all.contentType);
      res.send(all.text);
    } catch (error) {
      logger.warn('could not gather the metrics of every worker', { error });
      res.status(503).type('text/plain').send('metrics unavailable: the primary process did not answer\n');
    }
  });

  app.get('/readyz', async (_req, res) => {
    try {
      if (await isApplied(db.pool, latestMigration)) res.json({ status: 'ready' });
      else res.status(503).json({ status: 'unready', reason: 'database is not migrated' });
    } catch {
      res.status(503).json({ status: 'unready', reason: 'database unreachable' });
    }
  });

  // The reconciliation routes are rate-limited per credential as /graphql is.
  const rateLimit = async (actorId: string): Promise<RateDecision> => {
    const allowance = await limiter.take(actorId);
    if (!allowance.allowed) metrics.rateLimited.inc();
    return allowance;
  };
  // The streamed import reads its own body (never whole, never through express.json).
  mountImportRoute(app, {
    services,
    rateLimit,
    logger,
  });

  mountReportRoute(app, {
    services,
    rateLimit,
    logger,
  });

  // Authentication and the rate limit of one GraphQL request, on either path to Apollo.
  const graphqlContext = async (
    authorization: string | undefined,
    requestId: string,
    clientAddress: string | null,
  ): Promise<RequestContext> => {
    try {
      const principal = await services.authenticator.authenticate(authorization);
      const allowance = await limiter.take(principal.actorId);
      if (!allowance.allowed) {
        metrics.rateLimited.inc();
        throw new GraphQLError(`rate limit exceeded for this credential; retry in ${allowance.retryAfterSeconds} s`, {
          extensions: {
            code: 'RATE_LIMITED',
            retryable: true,
            retryAfterSeconds: allowance.retryAfterSeconds,
            http: { status: 429, headers: new Map([['retry-after', String(allowance.retryAfterSeconds)]]) },
          },
        });
      }
      setReadCredential(principal.actorId);
      return createRequestContext(services, { principal, requestId, clientAddress });
    } catch (error) {
      if (error instanceof DomainError) {
        throw new GraphQLError(error.message, {
          extensions: { code: error.code, retryable: ERROR_CATALOG[error.code].retryable, http: { status: 401 } },
        });
      }
      throw error;
    }
  };

  app.use(
    '/graphql',
    express.json({ limit: config.bodyLimitBytes }),
    rejectUnacceptableText(),
    expressMiddleware(apollo, {
      context: ({ req, res }) => graphqlContext(req.get('authorization'), String(res.locals.requestId), req.ip ?? null),
    }),
  );

  // Body-parser failures (malformed JSON, oversize bodies) answer with a coded 4xx, never a stack.
  app.use(
    (
      error: { status?: number; type?: string; message?: string },
      _req: express.Request,
      res: express.Response,
      next: express.NextFunction,
    ) => {
      if (res.headersSent) return next(error);
      const status = error.status && error.status >= 400 && error.status < 500 ? error.status : 500;
      if (status === 500) logger.error('unhandled HTTP error', { requestId: res.locals.requestId, error });
      res.status(status).json({
        errors: [
          {
            message: status === 500 ? 'internal server error' : (error.message ?? 'bad request'),
            extensions: { code: status === 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_USER_INPUT', retryable: false },
          },
        ],
      });
    },
  );

  // The plain POST /graphql skips express (platform/graphql-http.ts); the draining and request-id steps
  // above are repeated here for it, everything else is express's.
  const fastPath = config.graphqlFastPath ?? true;
  const serveFast = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const offered = req.headers['x-request-id'];
    const requestId = typeof offered === 'string' && REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    return serveGraphQLPost(req, res, {
      apollo,
      bodyLimitBytes: config.bodyLimitBytes,
      requestId,
      context: (authorization, clientAddress) => graphqlContext(authorization, requestId, clientAddress),
      logger,
    });
  };
  httpServer.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!fastPath || draining || !isPlainGraphQLPost(req)) app(req, res);
    else if (db.replicas === null) void serveFast(req, res);
    else void inReadScope(() => serveFast(req, res));
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => resolve());
  });
  const { port } = httpServer.address() as AddressInfo;
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const scheduler = new Scheduler(db, services.expiry, engine, logger, config.schedulerIntervalSeconds, {
    run: (outcome) => metrics.schedulerRuns.inc({ outcome }),
    work: (job, count) => metrics.schedulerWork.inc({ job }, count),
  });
  scheduler.start();
  webhooks?.dispatcher.start();
  webhooks?.worker.start();
  reconciliation.start();

  return {
    url: `http://${shownHost}:${port}/graphql`,
    port,
    httpServer,
    services,
    hub,
    websocket,
    scheduler,
    webhooks,
    reconciliation,
    async stop() {
      draining = true;
      httpServer.closeIdleConnections();
      await scheduler.stop();
      // Deliveries in flight are aborted; their claims run out and any instance sends them again.
      await webhooks?.dispatcher.stop();
      await webhooks?.worker.stop();
      await reconciliation.stop();
      // Subscribers next (they hold no request open), then the event fan-out, then HTTP.
      await websocket.dispose();
      await hub.stop();
      await apollo.stop();
      await redis?.close();
    },
  };
}
