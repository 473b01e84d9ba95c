import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { summarizeProfile, type ProfileSummary } from './cpuprofile.js';
import { createFixture, driveLoad, type BenchContext, type Fixture, type LoadRun, type Timing } from './context.js';
import { checkInvariants, databaseUrl, postmasterPid, withClient, type InvariantReport } from './db.js';
import { startThrowawayCluster } from './pg-cluster.js';
import { pgbenchInit, pgbenchRun } from './pgbench.js';
import { startCpuWindow } from './proc.js';
import { PGBENCH_CLIENTS } from '../scenarios/references.js';
import { parentOf } from './proc.js';
import { freePort, startServer, type ServerProcess } from './server.js';
import type { ProfileJob, Scenario } from '../scenarios/scenario.js';
import { round } from './stats.js';

/**
 * The profile pass: the same scenarios, shorter, against a throwaway cluster with pg_stat_statements,
 * and a server run under `node --cpu-prof`. It yields SQL statements per request, where the database
 * time goes per statement, what backends wait on, and where the server's CPU goes.
 */
export interface StatementStat {
  query: string;
  calls: number;
  callsPerRequest: number;
  meanMs: number;
  totalMs: number;
  sharePercent: number;
}

export interface ProfileResult {
  key: string;
  title: string;
  requests: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  statementsPerRequest: number;
  /** Executor time of all statements ÷ requests (lock waits included). */
  execMsPerRequest: number;
  /** Planning time of all statements ÷ requests (custom plans are re-planned on every execution). */
  planMsPerRequest: number;
  walBytesPerRequest: number;
  statements: StatementStat[];
  /** Share of sampled active backends of the benchmark database in each wait state. */
  waits: Array<{ wait: string; percent: number }>;
  /** Average backends active (running or waiting, not idle) in the sampled window. */
  activeBackends: number;
  cpu: LoadRun['cpu'];
  serverProfile: ProfileSummary | null;
}

export interface ProfilePass {
  settings: Record<string, string>;
  results: ProfileResult[];
  invariants: InvariantReport;
}

const PROFILE_TIMING: Timing = { warmupMs: 1_000, durationMs: 5_000 };
const WAIT_SAMPLE_MS = 20;

async function statementStats(
  client: pg.Client,
  databaseOid: number,
  requests: number,
): Promise<{ total: number; execMs: number; planMs: number; walBytes: number; top: StatementStat[] }> {
  const { rows } = await client.query<{
    query: string;
    calls: string;
    mean: number;
    total: number;
    plan: number;
    wal_bytes: string;
  }>(
    `SELECT query, calls, mean_exec_time AS mean, total_exec_time AS total, total_plan_time AS plan, wal_bytes
       FROM pg_stat_statements WHERE dbid = $1 ORDER BY total_exec_time DESC`,
    [databaseOid],
  );
  const total = rows.reduce((sum, row) => sum + Number(row.calls), 0);
  const totalMs = rows.reduce((sum, row) => sum + row.total, 0);
  return {
    total,
    execMs: totalMs,
    planMs: rows.reduce((sum, row) => sum + row.plan, 0),
    walBytes: rows.reduce((sum, row) => sum + Number(row.wal_bytes), 0),
    top: rows.slice(0, 15).map((row) => ({
      query: row.query.replace(/\s+/g, ' ').slice(0, 160),
      calls: Number(row.calls),
      callsPerRequest: round(Number(row.calls) / Math.max(requests, 1), 2),
      meanMs: round(row.mean, 3),
      totalMs: round(row.total, 0),
      sharePercent: round((row.total / Math.max(totalMs, 1e-9)) * 100, 1),
    })),
  };
}

/** Samples pg_stat_activity of one database until stopped. */
function sampleWaits(
  client: pg.Client,
  database: string,
): { stop(): Promise<{ waits: ProfileResult['waits']; activeBackends: number }> } {
  const counts = new Map<string, number>();
  let samples = 0;
  let active = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const { rows } = await client.query<{ wait: string }>(
        `SELECT CASE WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'CPU (running)')
                     ELSE coalesce(wait_event_type || ':' || wait_event, state) END AS wait
           FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'
            AND state <> 'idle'`,
        [database],
      );
      samples += 1;
      active += rows.length;
      for (const row of rows) counts.set(row.wait, (counts.get(row.wait) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, WAIT_SAMPLE_MS));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const total = [...counts.values()].reduce((sum, value) => sum + value, 0);
      return {
        waits: [...counts.entries()]
          .sort((a, b) => b[1] - a[1])
          .map(([wait, count]) => ({ wait, percent: round((count / Math.max(total, 1)) * 100, 1) })),
        activeBackends: round(active / Math.max(samples, 1), 2),
      };
    },
  };
}

async function newestProfile(dir: string): Promise<string | null> {
  const files = (await readdir(dir)).filter((file) => file.endsWith('.cpuprofile'));
  let newest: { file: string; mtime: number } | null = null;
  for (const file of files) {
    const { mtimeMs } = await stat(path.join(dir, file));
    if (!newest || mtimeMs > newest.mtime) newest = { file: path.join(dir, file), mtime: mtimeMs };
  }
  return newest?.file ?? null;
}

/** pgbench TPC-B (scale 16, 8 clients) on the same cluster, through the same statement statistics: the yardstick's database cost per transaction. */
async function profileTpcb(
  adminUrl: string,
  pgbench: string,
  postmaster: number | null,
  log: (message: string) => void,
): Promise<ProfileResult> {
  const database = 'rl_bench_profile_tpcb';
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${database}`));
  const url = databaseUrl(adminUrl, database);
  await pgbenchInit(pgbench, url, 16);
  const oid = await withClient(adminUrl, async (client) =>
    Number((await client.query('SELECT oid FROM pg_database WHERE datname = $1', [database])).rows[0].oid),
  );
  return withClient(adminUrl, async (client) => {
    await client.query('SELECT pg_stat_statements_reset()');
    const sampler = sampleWaits(client, database);
    const window = startCpuWindow({ postmasterPid: postmaster });
    const run = await pgbenchRun(pgbench, url, {
      clients: PGBENCH_CLIENTS,
      threads: 2,
      seconds: PROFILE_TIMING.durationMs / 1000,
      protocol: 'simple',
    });
    const cpu = window.end();
    const waits = await sampler.stop();
    // pgbench's own vacuum and truncate before the run are statements too; count only the transactions' statements.
    const statements = await statementStats(client, oid, run.transactions);
    const perTransaction = (value: number) => value / Math.max(run.transactions, 1);
    const tpcb = statements.top.filter(
      (statement) =>
        /pgbench_(accounts|tellers|branches|history)|^(BEGIN|END)/i.test(statement.query) &&
        !/vacuum|truncate/i.test(statement.query),
    );
    log(`profile TPC-B: ${run.tps.toFixed(0)} tps`);
    return {
      key: 'TPC-B',
      title: `pgbench TPC-B s16, ${PGBENCH_CLIENTS} clients (reference)`,
      requests: run.transactions,
      throughput: round(run.tps, 0),
      p50Ms: NaN,
      p99Ms: NaN,
      statementsPerRequest: round(perTransaction(tpcb.reduce((sum, statement) => sum + statement.calls, 0)), 2),
      execMsPerRequest: round(perTransaction(tpcb.reduce((sum, statement) => sum + statement.totalMs, 0)), 3),
      planMsPerRequest: round(perTransaction(statements.planMs), 3),
      walBytesPerRequest: round(perTransaction(statements.walBytes), 0),
      statements: tpcb,
      waits: waits.waits,
      activeBackends: waits.activeBackends,
      cpu,
      serverProfile: null,
    };
  });
}

export interface ProfilePassOptions {
  /** pgbench binary, for the TPC-B row; null skips it. */
  pgbench: string | null;
  scenarios: Scenario[];
  serverEnv: (databaseUrl: string, port: number) => Record<string, string | undefined>;
  adminSecret: string;
  customers: number;
  profileDir: string;
  logFile: string;
  /** Settings copied from the measured server so timings compare (fsync, synchronous_commit, memory). */
  settings: Record<string, string>;
  log(message: string): void;
}

export async function runProfilePass(options: ProfilePassOptions): Promise<ProfilePass> {
  const settings = {
    ...options.settings,
    shared_preload_libraries: 'pg_stat_statements',
    'pg_stat_statements.track': 'top',
    'pg_stat_statements.max': '5000',
    'pg_stat_statements.track_planning': 'on',
    track_activities: 'on',
  };
  const cluster = await startThrowawayCluster(await freePort(), settings);
  await rm(options.profileDir, { recursive: true, force: true });
  await mkdir(options.profileDir, { recursive: true });
  let server: ServerProcess | null = null;
  try {
    const database = 'rl_bench_profile';
    await withClient(cluster.adminUrl, async (client) => {
      await client.query(`CREATE DATABASE ${database}`);
      await client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    });
    const url = databaseUrl(cluster.adminUrl, database);
    const databaseOid = await withClient(cluster.adminUrl, async (client) =>
      Number((await client.query('SELECT oid FROM pg_database WHERE datname = $1', [database])).rows[0].oid),
    );
    const start = async (flags: string[]) =>
      startServer({ env: options.serverEnv(url, await freePort()), logFile: options.logFile, nodeFlags: flags });

    server = await start([]);
    const fixture: Fixture = await createFixture(server, url, options.adminSecret, options.customers);
    await server.stop();
    server = null;
    const postmaster = await postmasterPid(url, parentOf);

    const results: ProfileResult[] = [];
    const jobs: ProfileJob[] = [];
    for (const scenario of options.scenarios) {
      if (!scenario.profileJobs) continue;
      // profileJobs only reads the fixture from the context.
      jobs.push(...scenario.profileJobs({ fixture } as BenchContext));
    }
    for (const job of jobs) {
      server = await start([
        '--cpu-prof',
        `--cpu-prof-dir=${options.profileDir}`,
        `--cpu-prof-name=${job.key}.cpuprofile`,
      ]);
      const current = server;
      const result = await withClient(cluster.adminUrl, async (client) => {
        await client.query('SELECT pg_stat_statements_reset()');
        const sampler = sampleWaits(client, database);
        const run = await driveLoad(current, postmaster, PROFILE_TIMING, { ...job.spec, timing: PROFILE_TIMING });
        const waits = await sampler.stop();
        const statements = await statementStats(client, databaseOid, run.answered);
        return { run, waits, statements };
      });
      await server.stop();
      server = null;
      const file = await newestProfile(options.profileDir);
      const ok = result.run.outcomes.OK?.latency.count ?? 0;
      results.push({
        key: job.key,
        title: job.title,
        requests: result.run.answered,
        throughput: round((ok * 1000) / result.run.measuredMs, 0),
        p50Ms: round(result.run.latency.p50Ms, 2),
        p99Ms: round(result.run.latency.p99Ms, 2),
        statementsPerRequest: round(result.statements.total / Math.max(result.run.answered, 1), 2),
        execMsPerRequest: round(result.statements.execMs / Math.max(result.run.answered, 1), 3),
        planMsPerRequest: round(result.statements.planMs / Math.max(result.run.answered, 1), 3),
        walBytesPerRequest: round(result.statements.walBytes / Math.max(result.run.answered, 1), 0),
        statements: result.statements.top,
        waits: result.waits.waits,
        activeBackends: result.waits.activeBackends,
        cpu: result.run.cpu,
        serverProfile: file ? summarizeProfile(file, result.run.windowUs) : null,
      });
      const last = results.at(-1)!;
      options.log(
        `profile ${job.key}: ${last.throughput}/s, ${last.statementsPerRequest} statements/request, server busy ${last.serverProfile?.busyOfOneCorePercent ?? '?'}% of a core`,
      );
    }
    if (options.pgbench) results.push(await profileTpcb(cluster.adminUrl, options.pgbench, postmaster, options.log));
    const invariants = await checkInvariants(url);
    return { settings, results, invariants };
  } finally {
    if (server) await server.stop();
    await cluster.stop();
  }
}
