import path from 'node:path';

/** Everything the server reads from its environment, validated once at start-up. */
export interface Config {
  /** Postgres to use; when absent the server starts an embedded PostgreSQL in `dataDir`. */
  databaseUrl: string | undefined;
  host: string;
  port: number;
  /** Bootstrap global admin secret; generated and kept in `dataDir` in embedded mode when absent. */
  adminApiKey: string | undefined;
  environment: 'development' | 'production' | 'test';
  dataDir: string;
  embeddedPostgresPort: number;
  databasePoolMax: number;
  /** Largest accepted HTTP request body. */
  bodyLimitBytes: number;
  /** Attempts at a posting that hits a serialization failure or deadlock before answering CONFLICT. */
  postingAttemptsMax: number;
  /** How long a verified API key is trusted without a lookup; 0 looks every request up. */
  apiKeyCacheMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export const API_KEY_CACHE_MS_DEFAULT = 1_000;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];

  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (!/^[0-9]+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}; got ${JSON.stringify(raw)}`);
      return fallback;
    }
    return Number(raw);
  };

  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      problems.push(`${name} must be one of ${allowed.join(', ')}; got ${JSON.stringify(raw)}`);
      return fallback;
    }
    return raw as T;
  };

  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgres:// or postgresql:// connection string');
  }

  const adminApiKey = env.ADMIN_API_KEY || undefined;
  if (adminApiKey !== undefined && (adminApiKey.length < 24 || adminApiKey.length > 256 || /\s/.test(adminApiKey))) {
    problems.push('ADMIN_API_KEY must be 24 to 256 characters without whitespace');
  }

  const environment = oneOf('NODE_ENV', ['development', 'production', 'test'] as const, 'development');
  const embeddedPostgresPort = integer('EMBEDDED_PG_PORT', 54329, 1024, 65535);
  if (embeddedPostgresPort === 5432) {
    problems.push('EMBEDDED_PG_PORT must not be 5432: that port belongs to the system PostgreSQL');
  }

  const config: Config = {
    databaseUrl,
    host: env.HOST || '0.0.0.0',
    port: integer('PORT', 4000, 0, 65535),
    adminApiKey,
    environment,
    dataDir: path.resolve(env.DATA_DIR || '.data'),
    embeddedPostgresPort,
    databasePoolMax: integer('DB_POOL_MAX', 10, 1, 500),
    bodyLimitBytes: integer('BODY_LIMIT_BYTES', 1_048_576, 1024, 16_777_216),
    postingAttemptsMax: integer('POSTING_ATTEMPTS_MAX', 5, 1, 20),
    apiKeyCacheMs: integer('API_KEY_CACHE_MS', API_KEY_CACHE_MS_DEFAULT, 0, 60_000),
    logLevel: oneOf('LOG_LEVEL', ['debug', 'info', 'warn', 'error'] as const, 'info'),
  };

  if (environment === 'production' && databaseUrl === undefined) {
    problems.push('DATABASE_URL is required when NODE_ENV=production (the embedded database is for development)');
  }
  if (environment === 'production' && adminApiKey === undefined) {
    problems.push('ADMIN_API_KEY is required when NODE_ENV=production');
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
