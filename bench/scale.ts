/**
 * `npm run bench:scale` (S8): measures S1 and S6 on a freshly seeded ledger, bulk-loads the journal to
 * 5,000,000 entries (one account holding a history well over 100,000 entries deep), measures again,
 * and compares a history page 100,000 rows deep with the first page. Writes bench/results/scale.json
 * and regenerates BENCHMARKS.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { bulkLoadHistory, entryAtDepth } from './lib/bulk.js';
import { CUSTOMERS_DEFAULT, createFixture, driveLoad, type BenchContext, type Fixture, type LoadSpec, type Timing } from './lib/context.js';
import { benchDatabaseName, checkInvariants, DatabaseRegistry, postmasterPid } from './lib/db.js';
import { machineFacts } from './lib/machine.js';
import { findPgbench, pgbenchVersion } from './lib/pgbench.js';
import { parentOf } from './lib/proc.js';
import { QuietGate } from './lib/quiet.js';
import { writeReport, type BenchResults } from './lib/report.js';
import { freePort, serverDefaultPoolMax, startServer, type ServerProcess } from './lib/server.js';
import { median } from './lib/stats.js';
import { BENCH_RESULTS_FILE, envInteger, log, RESULTS_DIR, SCALE_RESULTS_FILE, scenarioTitles, serverEnvFor } from './run.js';
import { s1 } from './scenarios/s1-transfer.js';
import { historySpec, s6a, s6b } from './scenarios/s6-reads.js';
import { limitRow, loadFigures, type AllMedians, type Figures, type Scenario, type TargetRow } from './scenarios/scenario.js';
import { REPO_ROOT } from './lib/server.js';

const HISTORY_DEPTH = 100_000;
const HISTORY_CONCURRENCY = 8;
const DAY_MS = 86_400_000;

async function main(): Promise<number> {
  const adminUrl = process.env.BENCH_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres';
  const rounds = envInteger('BENCH_ROUNDS', 3, 1, 9);
  const seconds = envInteger('BENCH_SECONDS', 6, 1, 120);
  const warmupSeconds = envInteger('BENCH_WARMUP_SECONDS', 2, 0, 60);
  const customers = envInteger('BENCH_CUSTOMERS', CUSTOMERS_DEFAULT, 100, 1_000_000);
  const entries = envInteger('BENCH_SCALE_ENTRIES', 5_000_000, 10_000, 100_000_000);
  const deep = envInteger('BENCH_SCALE_DEEP_ENTRIES', 150_000, HISTORY_DEPTH + 1000, 10_000_000);
  const markdownFile = process.env.BENCH_OUT || path.join(REPO_ROOT, 'BENCHMARKS.md');
  const startedAt = performance.now();
  await mkdir(RESULTS_DIR, { recursive: true });
  const logFile = path.join(RESULTS_DIR, 'server-scale.log');
  const registry = new DatabaseRegistry(adminUrl);
  let server: ServerProcess | null = null;
  process.once('SIGINT', () => {
    log('interrupted: cleaning up');
    void (async () => {
      if (server) await server.stop().catch(() => undefined);
      await registry.dropAll();
    })().finally(() => process.exit(130));
  });
  try {
    const pgbench = findPgbench();
    const facts = await machineFacts(adminUrl, pgbench ? await pgbenchVersion(pgbench) : null);
    const adminSecret = `bench-admin-${randomBytes(16).toString('hex')}`;
    const serverEnv = serverEnvFor({ poolMax: process.env.BENCH_DB_POOL_MAX || undefined }, adminSecret);
    const url = await registry.create(benchDatabaseName('scale'));
    const timing: Timing = { warmupMs: warmupSeconds * 1000, durationMs: seconds * 1000 };
    const now = Date.now();

    server = await startServer({ env: serverEnv(url, await freePort()), logFile });
    // The seed predates the bulk history, which predates everything the scenarios post.
    const fixture: Fixture = await createFixture(server, url, adminSecret, customers, new Date(now - 40 * DAY_MS));
    const postmaster = await postmasterPid(url, parentOf);
    const medians: AllMedians = {};
    const roundFigures: Record<string, Figures[]> = {};
    const makeContext = (running: ServerProcess): BenchContext => ({
      server: running,
      fixture,
      databaseUrl: url,
      postmasterPid: postmaster,
      poolMax: process.env.BENCH_DB_POOL_MAX ? Number(process.env.BENCH_DB_POOL_MAX) : serverDefaultPoolMax(),
      timing,
      medians,
      drive: (spec) => driveLoad(running, postmaster, timing, spec),
      log,
    });
    const record = (id: string, figures: Figures) => {
      roundFigures[id] ??= [];
      const all = roundFigures[id]!;
      all.push(figures);
      medians[id] = Object.fromEntries(Object.keys(all[0]!).map((name) => [name, median(all.map((round) => round[name]!))]));
    };
    const gate = new QuietGate({ waitBudgetMs: envInteger('BENCH_QUIET_WAIT_SECONDS', 90, 0, 600) * 1000, retriesMax: envInteger('BENCH_QUIET_RETRIES', 6, 0, 50), log });
    const measureSet = async (phase: 'empty' | 'grown', ctx: BenchContext, history: Record<'first' | 'deep', LoadSpec> | null) => {
      for (let round = 1; round <= rounds; round += 1) {
        log(`${phase} database, round ${round} of ${rounds}`);
        for (const scenario of [s1, s6a, s6b] as Scenario[]) {
          record(`S8.${phase}.${scenario.id}`, (await gate.measure(scenario.id, () => scenario.measure(ctx))).figures);
        }
        if (history) {
          for (const [name, spec] of Object.entries(history)) {
            const { figures } = await gate.measure(`history ${name}`, async () => {
              const run = await ctx.drive({ ...spec, mode: { kind: 'closed', concurrency: HISTORY_CONCURRENCY } });
              const measured = loadFigures(run);
              log(`S8 history ${name} page: ${measured.throughput!.toFixed(0)}/s, p50 ${measured.p50Ms!.toFixed(2)} ms`);
              return { figures: measured };
            });
            record(`S8.history.${name}`, figures);
          }
        }
      }
    };

    await measureSet('empty', makeContext(server), null);
    await server.stop();
    server = null;

    log(`bulk-loading ${entries.toLocaleString('en-US')} entries`);
    const loadStarted = performance.now();
    const loaded = await bulkLoadHistory(url, {
      rootLedgerId: fixture.rootLedgerId,
      assetId: fixture.assetId,
      issuanceAccountId: fixture.issuanceId,
      customerIds: fixture.customerIds,
      entries,
      deepAccountTransactions: deep,
      from: new Date(now - 30 * DAY_MS),
      to: new Date(now - DAY_MS),
      log,
    });
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    log(`bulk load done in ${loadSeconds.toFixed(0)} s`);

    server = await startServer({ env: serverEnv(url, await freePort()), logFile });
    const grown = makeContext(server);
    const deepCursor = await entryAtDepth(url, loaded.deepAccountId, HISTORY_DEPTH);
    await measureSet('grown', grown, { first: historySpec(grown, loaded.deepAccountId, null), deep: historySpec(grown, loaded.deepAccountId, deepCursor) });
    await server.stop();
    server = null;

    log('checking the ledger invariants over the grown journal');
    const invariants = await checkInvariants(url);
    log(`ledger invariants: ${invariants.ok ? 'clean' : 'VIOLATED'}`);

    const slowdown = (id: string, label: string): TargetRow => {
      const empty = medians[`S8.empty.${id}`]?.throughput;
      const grownValue = medians[`S8.grown.${id}`]?.throughput;
      const row = limitRow({
        scenario: 'S8',
        figure: `${label}: empty ÷ grown throughput (${empty?.toFixed(0)}/s → ${grownValue?.toFixed(0)}/s)`,
        value: empty && grownValue ? empty / grownValue : undefined,
        unit: '×',
        atMost: 1.2,
      });
      return row;
    };
    const first = medians['S8.history.first'];
    const deepPage = medians['S8.history.deep'];
    const targets: TargetRow[] = [
      slowdown('S1', 'S1 transfers'),
      slowdown('S6a', 'S6a balances by id'),
      slowdown('S6b', 'S6b page of 100 accounts'),
      limitRow({
        scenario: 'S8',
        figure: `history page ${HISTORY_DEPTH.toLocaleString('en-US')} rows deep ÷ first page, median latency (${first?.p50Ms?.toFixed(2)} → ${deepPage?.p50Ms?.toFixed(2)} ms at ${HISTORY_CONCURRENCY} clients)`,
        value: first && deepPage ? deepPage.p50Ms! / first.p50Ms! : undefined,
        unit: '×',
        atMost: 1.5,
      }),
    ];
    const results: BenchResults = {
      kind: 'bench:scale',
      facts,
      options: { rounds, seconds, warmupSeconds, customers, entries, deepAccountEntries: deep, historyDepth: HISTORY_DEPTH, bulkLoadSeconds: Math.round(loadSeconds), remeasuredRuns: gate.retried },
      features: {},
      durationSeconds: (performance.now() - startedAt) / 1000,
      rounds: roundFigures,
      medians,
      notMeasured: {},
      targets,
      profile: null,
      invariants: [invariants],
      details: {},
    };
    await writeFile(SCALE_RESULTS_FILE, JSON.stringify(results, null, 2) + '\n');
    await writeReport(markdownFile, { bench: BENCH_RESULTS_FILE, scale: SCALE_RESULTS_FILE }, scenarioTitles());
    for (const row of targets) log(`${row.figure}: ${row.value?.toFixed(2) ?? '—'} target ${row.target}: ${row.met === null ? 'n/a' : row.met ? 'met' : 'NOT MET'}`);
    log(`wrote ${path.relative(REPO_ROOT, SCALE_RESULTS_FILE)} and ${path.relative(REPO_ROOT, markdownFile)} in ${results.durationSeconds.toFixed(0)} s`);
    if (!invariants.ok) {
      process.stderr.write(`\nLEDGER INVARIANTS VIOLATED:\n${JSON.stringify(invariants.violations, null, 2)}\n`);
      return 1;
    }
    return 0;
  } finally {
    if (server) await server.stop().catch(() => undefined);
    await registry.dropAll();
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`bench:scale failed: ${error.stack ?? error}\n`);
    process.exit(1);
  },
);
