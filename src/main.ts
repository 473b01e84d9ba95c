import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, loadConfig } from './platform/config.js';
import { connectDatabase } from './platform/db.js';
import { describeReplicas } from './platform/read-replica.js';
import { describeHost } from './platform/database-url.core.js';
import {
  EmbeddedPostgresError,
  ensureDatabase,
  startEmbeddedPostgres,
  type EmbeddedPostgres,
} from './platform/embedded-postgres.js';
import { createLogger } from './platform/logger.js';
import { stderrLines } from './platform/log-buffer.js';
import { migrate } from './platform/migrations.js';
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

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);

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

  const db = connectDatabase(
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
  );
  const report = await migrate(db.pool);
  if (report.applied.length > 0) logger.info('applied migrations', { migrations: report.applied });

  const server = await startServer({
    config,
    db,
    logger,
    adminApiKey,
    tokenSecret,
    webhookSecretKey,
    giftCardKey,
    graphiqlHeaders: prefillAdminKey ? { Authorization: `Bearer ${adminApiKey}` } : undefined,
  });
  const database = embedded
    ? `embedded PostgreSQL on 127.0.0.1:${config.embeddedPostgresPort}, data in ${embedded.dataDir}`
    : db.locator === null
      ? 'DATABASE_URL'
      : `DATABASE_URL, primary among ${db.locator.hosts.map(describeHost).join(', ')}`;
  const lines = [
    `Reward Ledger listening on ${server.url} (${database})`,
    ...(db.replicas === null
      ? []
      : [`Stale-OK reads: on the replicas ${describeReplicas(db.replicas)} (DATABASE_READ_URL)`]),
    authenticationLine(config.adminApiKey, adminApiKey, config.dataDir),
    config.graphiql
      ? `GraphiQL: ${server.url.replace(/\/graphql$/, '/graphiql')}${prefillAdminKey ? ' (headers pre-filled with the admin key)' : ''}`
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
  process.stdout.write(lines.join('\n') + '\n');

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
      await server.stop();
      logger.debug('HTTP drained');
      await db.close();
      logger.debug('database pool closed');
      if (embedded) await embedded.stop();
      logger.debug('embedded PostgreSQL stopped');
      process.exit(0);
    } catch (error) {
      logger.error('shutdown failed', { error });
      process.exit(1);
    }
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error) => {
  // Configuration and the embedded database fail with a message written for a person; anything else is a bug.
  const known = error instanceof ConfigError || error instanceof EmbeddedPostgresError;
  stderrLines().flush(); // the log lines before it come first
  process.stderr.write((known ? error.message : `Failed to start: ${(error as Error).stack ?? error}`) + '\n');
  process.exit(1);
});
