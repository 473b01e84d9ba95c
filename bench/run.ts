/**
 * `npm run bench`: starts the built server in production mode against a real Postgres, seeds a ledger in
 * bulk, drives every scenario from a separate process, measures pgbench TPC-B on separate databases of
 * the same server in the same run, profiles, checks the ledger invariants, and writes BENCHMARKS.md and
 * bench/results/bench.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import {
  checkInvariants,
  benchDatabaseName,
  DatabaseRegistry,
  postmasterPid,
  withClient,
  type InvariantReport,
} from './lib/db.js';
import {
  CUSTOMERS_DEFAULT,
  createFixture,
  driveLoad,
  gql,
  type BenchContext,
  type Fixture,
  type Timing,
} from './lib/context.js';
import { machineFacts } from './lib/machine.js';
import { findPgbench, pgbenchInit, pgbenchVersion } from './lib/pgbench.js';
import { parentOf } from './lib/proc.js';
import { QuietGate } from './lib/quiet.js';
import { runProfilePass, type ProfilePass } from './lib/profile.js';
import { writeReport, type BenchResults } from './lib/report.js';
import { freePort, REPO_ROOT, serverDefaultPoolMax, startServer, type ServerProcess } from './lib/server.js';
import { median } from './lib/stats.js';
import { allScenarios } from './scenarios/index.js';
import { PGBENCH_CLIENTS, type PgbenchSetup } from './scenarios/references.js';
import { detectFeatures, type AllMedians, type Figures, type Scenario, type TargetRow } from './scenarios/scenario.js';

export interface BenchOptions {
  adminUrl: string;
  rounds: number;
  seconds: number;
  warmupSeconds: number;
  customers: number;
  profile: boolean;
  pgbenchPrepared: boolean;
  only: string[] | null;
  poolMax: string | undefined;
  markdownFile: string;
  jsonFile: string;
  /** Total time the run may spend waiting for other work on the machine to finish before measuring. */
  quietWaitSeconds: number;
  /** Runs disturbed by other work that may be measured again. */
  quietRetries: number;
}

/** An integer knob from the environment, within its bounds; the fallback when unset. */
export function envInteger(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(`${name} must be an integer from ${min} to ${max}`);
  return value;
}

export function readOptions(): BenchOptions {
  const only = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',').map((id) => id.trim()) : null;
  const resultsDir = path.join(REPO_ROOT, 'bench', 'results');
  return {
    adminUrl: process.env.BENCH_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres',
    rounds: envInteger('BENCH_ROUNDS', 3, 1, 9),
    seconds: envInteger('BENCH_SECONDS', 6, 1, 120),
    warmupSeconds: envInteger('BENCH_WARMUP_SECONDS', 2, 0, 60),
    customers: envInteger('BENCH_CUSTOMERS', CUSTOMERS_DEFAULT, 100, 1_000_000),
    profile: process.env.BENCH_PROFILE !== '0',
    pgbenchPrepared: process.env.BENCH_PGBENCH_PREPARED !== '0',
    only,
    poolMax: process.env.BENCH_DB_POOL_MAX || undefined,
    // A partial run (BENCH_ONLY) must not overwrite the full report.
    markdownFile:
      process.env.BENCH_OUT || (only ? path.join(resultsDir, 'partial.md') : path.join(REPO_ROOT, 'BENCHMARKS.md')),
    jsonFile: only ? path.join(resultsDir, 'partial.json') : BENCH_RESULTS_FILE,
    quietWaitSeconds: envInteger('BENCH_QUIET_WAIT_SECONDS', 60, 0, 600),
    quietRetries: envInteger('BENCH_QUIET_RETRIES', 6, 0, 50),
  };
}

export const RESULTS_DIR = path.join(REPO_ROOT, 'bench', 'results');
export const BENCH_RESULTS_FILE = path.join(RESULTS_DIR, 'bench.json');
export const SCALE_RESULTS_FILE = path.join(RESULTS_DIR, 'scale.json');

export function scenarioTitles(): Record<string, string> {
  return Object.fromEntries(allScenarios(() => null).map((scenario) => [scenario.id, scenario.title]));
}

export function log(message: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** The server's environment: production mode, as it would be deployed, on loopback. */
export function serverEnvFor(options: Pick<BenchOptions, 'poolMax'>, adminSecret: string) {
  return (databaseUrl: string, port: number): Record<string, string | undefined> => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    ADMIN_API_KEY: adminSecret,
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'warn',
    // One process: every scenario measures the server as it always did; W1 sets 2 for itself.
    WEB_CONCURRENCY: '1',
    // S7 holds 10,000 subscribers: headroom over the default limit of 10,000 sockets.
    WS_CONNECTIONS_MAX: '11000',
    ...(options.poolMax ? { DB_POOL_MAX: options.poolMax } : {}),
  });
}

/** `ledgerIntegrity` for the benchmark's root ledger, through the API with the bootstrap admin secret. */
async function integrityReport(
  server: ServerProcess,
  fixture: Fixture,
): Promise<{ ok: boolean; transactionsChecked: number; problems: string[] }> {
  const data = await gql(
    server,
    fixture.secrets.admin,
    `query($l: ID!) { ledgerIntegrity(ledgerId: $l) { ok transactionsChecked problems } }`,
    { l: fixture.rootLedgerId },
  );
  return data.ledgerIntegrity;
}

/** Settings of the measured server that the profiling cluster copies, so its timings compare. */
async function comparableSettings(adminUrl: string): Promise<Record<string, string>> {
  return withClient(adminUrl, async (client) => {
    const { rows } = await client.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'wal_sync_method', 'work_mem', 'max_wal_size', 'full_page_writes')`,
    );
    // shared_buffers is reported in 8 kB pages; the others carry their own units or none.
    return Object.fromEntries(
      rows.map((row) => [
        row.name,
        row.name === 'shared_buffers'
          ? `${Number(row.setting) * 8}kB`
          : row.name === 'max_wal_size'
            ? `${row.setting}MB`
            : row.name === 'work_mem'
              ? `${row.setting}kB`
              : row.setting,
      ]),
    );
  });
}

async function main(): Promise<number> {
  const options = readOptions();
  const startedAt = performance.now();
  const registry = new DatabaseRegistry(options.adminUrl);
  const resultsDir = path.join(REPO_ROOT, 'bench', 'results');
  await mkdir(resultsDir, { recursive: true });
  const logFile = path.join(resultsDir, 'server.log');
  let server: ServerProcess | null = null;
  /** Other instances a scenario started (X1); stopped here too when the run is interrupted. */
  const instances = new Set<ServerProcess>();
  let interrupted = false;
  const cleanup = async () => {
    if (server) await server.stop().catch(() => undefined);
    server = null;
    await Promise.all([...instances].map((instance) => instance.stop().catch(() => undefined)));
    await registry.dropAll();
  };
  process.once('SIGINT', () => {
    interrupted = true;
    log('interrupted: cleaning up');
    void cleanup().finally(() => process.exit(130));
  });

  try {
    const pgbench = findPgbench();
    const facts = await machineFacts(options.adminUrl, pgbench ? await pgbenchVersion(pgbench) : null);
    const features = detectFeatures();
    log(`${facts.cpus} × ${facts.cpuModel}, ${facts.postgres.split(',')[0]}, features ${JSON.stringify(features)}`);

    const scenarios = allScenarios(() => pgbenchSetup).filter(
      (scenario) => !options.only || options.only.includes(scenario.id),
    );
    const wanted = (id: string) => scenarios.some((scenario) => scenario.id === id);

    let pgbenchSetup: PgbenchSetup | null = null;
    if ((wanted('PG16') || wanted('PG1')) && pgbench) {
      const urlByScale: Record<number, string> = {};
      for (const scale of [16, 1]) {
        urlByScale[scale] = await registry.create(benchDatabaseName(`pgbench_s${scale}`));
        await pgbenchInit(pgbench, urlByScale[scale]!, scale);
      }
      pgbenchSetup = {
        binary: pgbench,
        urlByScale,
        seconds: options.seconds,
        clients: PGBENCH_CLIENTS,
        threads: Math.min(PGBENCH_CLIENTS, os.cpus().length),
        withPrepared: options.pgbenchPrepared,
      };
      log('pgbench databases initialised (scales 16 and 1)');
    }

    const adminSecret = `bench-admin-${randomBytes(16).toString('hex')}`;
    const serverEnv = serverEnvFor(options, adminSecret);
    const ledgerUrl = await registry.create(benchDatabaseName('ledger'));
    server = await startServer({ env: serverEnv(ledgerUrl, await freePort()), logFile });
    const fixture = await createFixture(server, ledgerUrl, adminSecret, options.customers);
    log(`server on port ${server.port}; ${fixture.customerIds.length} funded customers seeded`);

    const timing: Timing = { warmupMs: options.warmupSeconds * 1000, durationMs: options.seconds * 1000 };
    const postmaster = await postmasterPid(ledgerUrl, parentOf);
    const medians: AllMedians = {};
    const runningServer = server;
    const ctx: BenchContext = {
      server: runningServer,
      fixture,
      databaseUrl: ledgerUrl,
      postmasterPid: postmaster,
      poolMax: options.poolMax ? Number(options.poolMax) : serverDefaultPoolMax(),
      timing,
      medians,
      drive: (spec) => driveLoad(runningServer, postmaster, timing, spec),
      startInstance: async (env = {}) => {
        const instance = await startServer({
          env: { ...serverEnv(ledgerUrl, await freePort()), ...env },
          logFile: path.join(resultsDir, 'server-2.log'),
        });
        instances.add(instance);
        return {
          ...instance,
          stop: async () => {
            instances.delete(instance);
            return instance.stop();
          },
        };
      },
      log,
    };

    const rounds: Record<string, Figures[]> = {};
    const details: Record<string, unknown[]> = {};
    const notMeasured: Record<string, string> = {};
    const measurable: Scenario[] = [];
    for (const scenario of scenarios) {
      const why =
        scenario.unavailable?.(features) ??
        ((scenario.id === 'PG16' || scenario.id === 'PG1') && !pgbenchSetup ? 'not measured: pgbench not found' : null);
      if (why) notMeasured[scenario.id] = why;
      else measurable.push(scenario);
    }
    const gate = new QuietGate({
      waitBudgetMs: options.quietWaitSeconds * 1000,
      retriesMax: options.quietRetries,
      log,
    });
    const measureOnce = async (scenario: Scenario) => {
      const measurement = await gate.measure(scenario.id, () => scenario.measure(ctx));
      rounds[scenario.id] ??= [];
      rounds[scenario.id]!.push(measurement.figures);
      details[scenario.id] ??= [];
      details[scenario.id]!.push(measurement.detail ?? null);
      const figures = rounds[scenario.id]!;
      medians[scenario.id] = Object.fromEntries(
        Object.keys(figures[0]!).map((name) => [name, median(figures.map((round) => round[name]!))]),
      );
    };
    for (let round = 1; round <= options.rounds; round += 1) {
      log(`round ${round} of ${options.rounds}`);
      for (const scenario of measurable.filter((candidate) => candidate.phase === 'round')) await measureOnce(scenario);
    }
    for (const scenario of measurable.filter((candidate) => candidate.phase === 'after')) {
      for (let round = 1; round <= options.rounds; round += 1) await measureOnce(scenario);
    }
    // The product's own integrity report, asked through the API like an operator would, then the bench's
    // independent SQL invariants over the same ledger; either one failing fails the run.
    const integrity = await integrityReport(server, ctx.fixture);
    log(
      `ledgerIntegrity report: ${integrity.ok ? 'clean' : 'NOT CLEAN'} (${integrity.transactionsChecked.toLocaleString('en-US')} transactions checked)`,
    );
    await server.stop();
    server = null;

    const invariants: InvariantReport[] = [await checkInvariants(ledgerUrl)];
    if (!integrity.ok) {
      invariants[0]!.ok = false;
      invariants[0]!.violations.push({
        invariant: 'the ledgerIntegrity report finds no problem',
        rows: integrity.problems,
      });
    }
    log(`ledger invariants: ${invariants[0]!.ok ? 'clean' : 'VIOLATED'}`);

    let profile: ProfilePass | null = null;
    if (options.profile) {
      log('profile pass: throwaway cluster with pg_stat_statements, server under --cpu-prof');
      profile = await runProfilePass({
        pgbench,
        scenarios: measurable,
        serverEnv,
        adminSecret,
        customers: options.customers,
        profileDir: path.join(resultsDir, 'profiles'),
        logFile,
        settings: await comparableSettings(options.adminUrl),
        log,
      });
      invariants.push(profile.invariants);
      log(`profile cluster invariants: ${profile.invariants.ok ? 'clean' : 'VIOLATED'}`);
    }

    const statements = Object.fromEntries(
      (profile?.results ?? []).map((result) => [result.key, result.statementsPerRequest]),
    );
    const targets: TargetRow[] = scenarios.flatMap((scenario) => scenario.targets(medians, statements));
    const results: BenchResults = {
      kind: 'bench',
      facts,
      options: {
        rounds: options.rounds,
        seconds: options.seconds,
        warmupSeconds: options.warmupSeconds,
        customers: options.customers,
        only: options.only,
        poolMax: options.poolMax ?? 'server default',
        pgbenchClients: PGBENCH_CLIENTS,
        pgbenchThreads: pgbenchSetup?.threads ?? null,
        remeasuredRuns: gate.retried,
      },
      features: { ...features },
      durationSeconds: (performance.now() - startedAt) / 1000,
      rounds,
      medians,
      notMeasured,
      targets,
      profile,
      invariants,
      details,
    };
    await writeFile(options.jsonFile, JSON.stringify(results, null, 2) + '\n');
    await writeReport(options.markdownFile, { bench: options.jsonFile, scale: SCALE_RESULTS_FILE }, scenarioTitles());
    log(
      `wrote ${path.relative(REPO_ROOT, options.markdownFile)} and ${path.relative(REPO_ROOT, options.jsonFile)} in ${results.durationSeconds.toFixed(0)} s`,
    );
    for (const row of targets) {
      log(
        `${row.scenario} ${row.figure}: ${row.value === null ? '—' : row.value.toFixed(2)} ${row.ratio === null ? '' : `(${row.ratio.toFixed(2)}×)`} target ${row.target}: ${row.met === null ? 'n/a' : row.met ? 'met' : 'NOT MET'}`,
      );
    }
    if (invariants.some((report) => !report.ok)) {
      process.stderr.write(
        `\nLEDGER INVARIANTS VIOLATED:\n${JSON.stringify(
          invariants.flatMap((report) => report.violations),
          null,
          2,
        )}\n`,
      );
      return 1;
    }
    return 0;
  } finally {
    if (!interrupted) await cleanup();
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`bench failed: ${error.stack ?? error}\n`);
      process.exit(1);
    },
  );
}
