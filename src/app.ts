import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import { GraphQLError } from 'graphql';
import { API_KEY_CACHE_MS_DEFAULT, type Config } from './platform/config.js';
import type { Database } from './platform/db.js';
import type { Logger } from './platform/logger.js';
import { DomainError } from './platform/errors.js';
import { classifyError, ERROR_CATALOG, formatGraphQLError } from './platform/graphql-errors.js';
import { queryBoundsRule } from './platform/depth-limit.js';
import { readMigrations } from './platform/migrations.js';
import { buildLedgerSchema } from './schema.js';
import { createRequestContext, type RequestContext, type Services } from './context.js';
import { LedgerService } from './ledgers/ledger.service.js';
import { AssetService } from './assets/asset.service.js';
import { AccountService } from './accounts/account.service.js';
import { TransactionService } from './transactions/transaction.service.js';
import { PostingService } from './postings/postings.service.js';
import { ApiKeyService } from './auth/api-key.service.js';
import { unobservedEvents, type LedgerEvents } from './events/ledger-events.js';

export interface ServerOptions {
  config: Pick<Config, 'host' | 'port' | 'environment' | 'bodyLimitBytes' | 'postingAttemptsMax'> & Partial<Pick<Config, 'apiKeyCacheMs'>>;
  db: Database;
  logger: Logger;
  adminApiKey: string | undefined;
  /** Receives every committed posting (subscriptions, fan-out to other instances). */
  events?: LedgerEvents;
}

export interface RunningServer {
  url: string;
  port: number;
  httpServer: http.Server;
  services: Services;
  stop(): Promise<void>;
}

export function createServices(db: Database, adminApiKey: string | undefined, postingAttemptsMax: number, events: LedgerEvents, apiKeyCacheMs = 0): Services {
  const ledgers = new LedgerService(db);
  const assets = new AssetService(db, ledgers);
  const accounts = new AccountService(db, ledgers);
  const transactions = new TransactionService(db);
  const postings = new PostingService(db, ledgers, assets, accounts, transactions, postingAttemptsMax, events);
  const apiKeys = new ApiKeyService(db, ledgers, adminApiKey, apiKeyCacheMs);
  return { ledgers, assets, accounts, transactions, postings, apiKeys };
}

// A client-supplied request id is echoed only when it is short and plain.
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** Builds and starts the HTTP server: GraphQL at /graphql, health at /healthz and /readyz. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { config, db, logger } = options;
  const services = createServices(db, options.adminApiKey, config.postingAttemptsMax, options.events ?? unobservedEvents, config.apiKeyCacheMs ?? API_KEY_CACHE_MS_DEFAULT);
  const exposeDetails = config.environment === 'development';
  const app = express();
  app.disable('x-powered-by');
  const httpServer = http.createServer(app);

  const apollo = new ApolloServer<RequestContext>({
    schema: await buildLedgerSchema(),
    validationRules: [queryBoundsRule],
    introspection: config.environment !== 'production',
    includeStacktraceInErrorResponses: false,
    // main.ts owns shutdown order (drain HTTP, close the pool, stop an embedded database).
    stopOnTerminationSignals: false,
    formatError: (formatted, error) => formatGraphQLError(formatted, error, exposeDetails),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      ApolloServerPluginLandingPageDisabled(),
      // Apollo installs cache-control by default; it wraps every field resolver to collect cache hints
      // that this API never sets (no @cacheControl, responses are per credential), at a cost on every field.
      ApolloServerPluginCacheControlDisabled(),
      {
        async requestDidStart() {
          return {
            async didEncounterErrors({ errors, contextValue }) {
              for (const error of errors) {
                if (classifyError(error).unexpected) {
                  logger.error('unexpected error', { requestId: contextValue?.origin?.requestId, error: error.originalError ?? error });
                }
              }
            },
          };
        },
      },
    ],
  });
  await apollo.start();

  const latestMigration = (await readMigrations()).at(-1)?.name;

  app.use((req, res, next) => {
    const offered = req.get('x-request-id');
    const requestId = offered && REQUEST_ID_PATTERN.test(offered) ? offered : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    try {
      const { rowCount } = await db.pool.query('SELECT 1 FROM "_prisma_migrations" WHERE migration_name = $1 AND finished_at IS NOT NULL', [latestMigration]);
      if (rowCount === 1) res.json({ status: 'ready' });
      else res.status(503).json({ status: 'unready', reason: 'database is not migrated' });
    } catch {
      res.status(503).json({ status: 'unready', reason: 'database unreachable' });
    }
  });

  app.use(
    '/graphql',
    express.json({ limit: config.bodyLimitBytes }),
    expressMiddleware(apollo, {
      context: async ({ req, res }) => {
        const requestId = String(res.locals.requestId);
        try {
          const principal = await services.apiKeys.authenticate(req.get('authorization'));
          return createRequestContext(services, { principal, requestId, clientAddress: req.ip ?? null });
        } catch (error) {
          if (error instanceof DomainError) {
            throw new GraphQLError(error.message, {
              extensions: { code: error.code, retryable: ERROR_CATALOG[error.code].retryable, http: { status: 401 } },
            });
          }
          throw error;
        }
      },
    }),
  );

  // Body-parser failures (malformed JSON, oversize bodies) answer with a coded 4xx, never a stack.
  app.use((error: { status?: number; type?: string; message?: string }, _req: express.Request, res: express.Response, next: express.NextFunction) => {
    if (res.headersSent) return next(error);
    const status = error.status && error.status >= 400 && error.status < 500 ? error.status : 500;
    if (status === 500) logger.error('unhandled HTTP error', { requestId: res.locals.requestId, error });
    res.status(status).json({
      errors: [{ message: status === 500 ? 'internal server error' : (error.message ?? 'bad request'), extensions: { code: status === 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_USER_INPUT', retryable: false } }],
    });
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => resolve());
  });
  const { port } = httpServer.address() as AddressInfo;
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;

  return {
    url: `http://${shownHost}:${port}/graphql`,
    port,
    httpServer,
    services,
    async stop() {
      await apollo.stop();
    },
  };
}
