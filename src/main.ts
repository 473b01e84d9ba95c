import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, loadConfig, type Config } from './platform/config.js';
import { connectDatabase, type Database } from './platform/db.js';
import { describeReplicas } from './platform/read-replica.js';
import { describeHost } from './platform/database-url.core.js';
import {
  EmbeddedPostgresError,
  ensureDatabase,
  startEmbeddedPostgres,
  type EmbeddedPostgres,
} from './platform/embedded-postgres.js';
import { createLogger, type Logger } from './platform/logger.js';
import { stderrLines } from './platform/log-buffer.js';
import { migrate } from './platform/migrations.js';
import { PrimaryLink } from './platform/worker-link.js';
import { isLedgerWorker, mayForkWorkers, SCHEDULER_SLOT, startWorkers } from './platform/workers.js';
import { startServer } from './app.js';

const EMBEDDED_DATABASE = 'reward_ledger';
// The longest a graceful stop may take before the process gives up and exits.
const SHUTDOWN_GRACE_MS = 10_000;

/**
 * In embedded mode, a secret the environment does not give is generated once and kept beside the data
 * (the admin key in `admin-api-key`, the customer-token signing key in `token-secret`, the key that
 * encrypts webhook secrets in `webhook-secret-key`).
 */
async function embeddedSecret(dataDir: string, name: string, generate: () => string): Promise<string> {
  const file = path.join(dataDir, name);
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const secret = generate();
    await mkdir(dataDir, { recursive: true });
    await writeFile(file, secret + '\n', { mode: 0o600 });
    return secret;
  }
}

/** How to authenticate: with the configured key, the generated one, or only with keys already stored. */
function authenticationLine(configured: string | undefined, adminApiKey: string | undefined, dataDir: string): string {
  if (adminApiKey === undefined)
    return 'No ADMIN_API_KEY is set: only API keys already stored in the database can authenticate.';
  if (configured !== undefined) return 'Authenticate with: Authorization: Bearer $ADMIN_API_KEY';
  return [
    `Authenticate with: Authorization: Bearer ${adminApiKey}   (generated; kept in ${path.join(dataDir, 'admin-api-key')})`,
    // A line to paste, so the README's curl examples and `npm run demo` work as printed.
    `For curl and npm run demo, paste:  export ADMIN_API_KEY=${adminApiKey}`,
  ].join('\n');
}

/** Opens the database as every process of the server does, logging where the primary is. */
function openDatabase(databaseUrl: string, config: Config, logger: Logger): Database {
  return connectDatabase(
    databaseUrl,
    config.databasePoolMax,
    {
      onPrimary: (host, previous) =>
        logger.info(previous === null ? 'database primary found' : 'database primary moved', {
          primary: describeHost(host),
          previous: previous === null ? undefined : describeHost(previous),
        }),
      onLost: (host, reason) =>
        logger.warn('database primary lost; looking again', { host: describeHost(host), reason }),
    },
    config.databaseReadUrl === undefined
      ? undefined
      : {
          url: config.databaseReadUrl,
          maxWaitMs: config.databaseReadMaxWaitMs,
          onUnreachable: (host, reason) =>
            logger.warn('read replica unreachable; its reads go to the primary', {
              replica: describeHost(host),
              reason,
            }),
          onReachable: (host) => logger.info('read replica answers again', { replica: describeHost(host) }),
        },
    { citus: config.databaseCitus },
  );
}

/** Stops the process on SIGINT and SIGTERM with `stop`, or exits 1 if that takes longer than the grace. */
function onTerminationSignals(logger: Logger, stop: () => Promise<number>): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    const timer = setTimeout(() => {
      logger.error('graceful shutdown timed out');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    timer.unref();
    try {
      process.exit(await stop());
    } catch (error) {
      logger.error('shutdown failed', { error });
      process.exit(1);
    }
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

async function main(): Promise<void> {
  // A worker of WEB_CONCURRENCY > 1: the primary below did the once-only work and hands over the rest.
  if (isLedgerWorker()) return runWorker();
  const config = loadConfig();
  const workers = config.webConcurrency > 1 && mayForkWorkers();
  const logger = createLogger(config.logLevel, undefined, workers ? { worker: 'primary' } : null);

  let embedded: EmbeddedPostgres | null = null;
  let databaseUrl = config.databaseUrl;
  if (databaseUrl === undefined) {
    embedded = await startEmbeddedPostgres({
      dataDir: path.join(config.dataDir, 'postgres'),
      port: config.embeddedPostgresPort,
    });
    await ensureDatabase(embedded.connectionString('postgres'), EMBEDDED_DATABASE);
    databaseUrl = embedded.connectionString(EMBEDDED_DATABASE);
  }
  const adminApiKey =
    config.adminApiKey ??
    (embedded
      ? await embeddedSecret(config.dataDir, 'admin-api-key', () => `rl_admin_${randomBytes(24).toString('base64url')}`)
      : undefined);
  const tokenSecret =
    config.tokenSecret ??
    (embedded
      ? await embeddedSecret(config.dataDir, 'token-secret', () => randomBytes(32).toString('base64url'))
      : undefined);
  const webhookSecretKey =
    config.webhookSecretKey ??
    (embedded
      ? await embeddedSecret(config.dataDir, 'webhook-secret-key', () => randomBytes(32).toString('base64url'))
      : undefined);
  const giftCardKey =
    config.giftCardKey ??
    (embedded
      ? await embeddedSecret(config.dataDir, 'gift-card-key', () => randomBytes(32).toString('base64url'))
      : undefined);
  // Only a developer's own embedded server hands its generated admin key to the browser IDE.
  const prefillAdminKey = embedded !== null && config.environment === 'development' && config.adminApiKey === undefined;
  const graphiqlHeaders = prefillAdminKey ? { Authorization: `Bearer ${adminApiKey}` } : undefined;

  const db = openDatabase(databaseUrl, config, logger);
  const report = await migrate(db.pool);
  if (report.applied.length > 0) logger.info('applied migrations', { migrations: report.applied });

  let url: string;
  let stopServing: () => Promise<boolean>;
  if (!workers) {
    const server = await startServer({
      config,
      db,
      logger,
      adminApiKey,
      tokenSecret,
      webhookSecretKey,
      giftCardKey,
      graphiqlHeaders,
    });
    url = server.url;
    stopServing = async () => {
      await server.stop();
      logger.debug('HTTP drained');
      await db.close();
      logger.debug('database pool closed');
      return true;
    };
  } else {
    const pool = startWorkers({
      count: config.webConcurrency,
      setup: { databaseUrl, adminApiKey, tokenSecret, webhookSecretKey, giftCardKey, graphiqlHeaders },
      rateLimitPerSecond: config.rateLimitPerSecond,
      rateLimitBurst: config.rateLimitBurst,
      logger,
      stopGraceMs: SHUTDOWN_GRACE_MS - 1_000,
    });
    let port: number;
    try {
      port = await pool.listening;
    } catch (error) {
      await pool.stop();
      await db.close();
      await embedded?.stop();
      throw new WorkersFailedError(`Failed to start: ${(error as Error).message}`);
    }
    url = serverUrl(config.host, port);
    stopServing = () => pool.stop();
    // A slot in a crash loop stops the whole server, so that whatever supervises it sees the failure.
    void pool.failed.then(async () => {
      await pool.stop();
      await embedded?.stop();
      process.exit(1);
    });
  }

  const database = embedded
    ? `embedded PostgreSQL on 127.0.0.1:${config.embeddedPostgresPort}, data in ${embedded.dataDir}`
    : db.locator === null
      ? 'DATABASE_URL'
      : `DATABASE_URL, primary among ${db.locator.hosts.map(describeHost).join(', ')}`;
  const lines = [
    `Reward Ledger listening on ${url} (${database})`,
    ...(workers
      ? [
          `Workers: ${config.webConcurrency} processes share the port (WEB_CONCURRENCY); worker ${SCHEDULER_SLOT} runs the scheduler`,
        ]
      : []),
    ...(db.replicas === null
      ? []
      : [`Stale-OK reads: on the replicas ${describeReplicas(db.replicas)} (DATABASE_READ_URL)`]),
    authenticationLine(config.adminApiKey, adminApiKey, config.dataDir),
    config.graphiql
      ? `GraphiQL: ${url.replace(/\/graphql$/, '/graphiql')}${prefillAdminKey ? ' (headers pre-filled with the admin key)' : ''}`
      : 'GraphiQL is off (GRAPHIQL=false)',
    tokenSecret === undefined
      ? 'Customer tokens are off: set TOKEN_SECRET to mint them.'
      : `Customer tokens: signed with ${config.tokenSecret !== undefined ? 'TOKEN_SECRET' : `the key generated in ${path.join(config.dataDir, 'token-secret')}`}`,
    webhookSecretKey === undefined
      ? 'Webhooks are off: set WEBHOOK_SECRET_KEY to register endpoints.'
      : `Webhook secrets: encrypted with ${config.webhookSecretKey !== undefined ? 'WEBHOOK_SECRET_KEY' : `the key generated in ${path.join(config.dataDir, 'webhook-secret-key')}`}`,
    giftCardKey === undefined
      ? 'Gift cards are off: set GIFT_CARD_KEY to issue them.'
      : `Gift card codes: keyed with ${config.giftCardKey !== undefined ? 'GIFT_CARD_KEY' : `the key generated in ${path.join(config.dataDir, 'gift-card-key')}`}`,
  ];
  // The primary needed its pool for the migrations and the line above; the workers have their own.
  if (workers) await db.close();
  process.stdout.write(lines.join('\n') + '\n');

  onTerminationSignals(logger, async () => {
    const clean = await stopServing();
    if (embedded) await embedded.stop();
    logger.debug('embedded PostgreSQL stopped');
    return clean ? 0 : 1;
  });
}

/**
 * One worker of `WEB_CONCURRENCY` > 1: asks the primary for what it prepared (the database, the secrets),
 * then serves as a single process would, on the port the workers share. Only the scheduler's slot runs
 * the scheduler; webhook dispatch and continuous reconciliation run in every worker, nudged by its own
 * commits, and share their work through row locks as instances do.
 */
async function runWorker(): Promise<void> {
  const primary = new PrimaryLink();
  const setup = await primary.setup();
  const config = loadConfig();
  const logger = createLogger(config.logLevel, undefined, { worker: setup.slot });
  const db = openDatabase(setup.databaseUrl, config, logger);
  const server = await startServer({
    config: setup.runsScheduler ? config : { ...config, schedulerIntervalSeconds: 0 },
    db,
    logger,
    adminApiKey: setup.adminApiKey,
    tokenSecret: setup.tokenSecret,
    webhookSecretKey: setup.webhookSecretKey,
    giftCardKey: setup.giftCardKey,
    graphiqlHeaders: setup.graphiqlHeaders,
    primary,
  });
  logger.info('worker listening', { pid: process.pid, scheduler: setup.runsScheduler });
  onTerminationSignals(logger, async () => {
    await server.stop();
    await db.close();
    return 0;
  });
}

function serverUrl(host: string, port: number): string {
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return `http://${shownHost}:${port}/graphql`;
}

/** A worker could not start: its own output said why; this says which. */
class WorkersFailedError extends Error {}

main().catch((error) => {
  // Configuration and the embedded database fail with a message written for a person; anything else is a bug.
  const known =
    error instanceof ConfigError || error instanceof EmbeddedPostgresError || error instanceof WorkersFailedError;
  stderrLines().flush(); // the log lines before it come first
  process.stderr.write((known ? error.message : `Failed to start: ${(error as Error).stack ?? error}`) + '\n');
  process.exit(1);
});
