import os from 'node:os';
import type { BenchContext, LoadRun } from '../lib/context.js';
import type { ServerProcess } from '../lib/server.js';
import { loadFigures, ratioRow, type Figures, type Scenario } from '../scenarios/scenario.js';
import { transferSpec } from '../scenarios/s1-transfer.js';

export const W1_WORKERS = 2;

/** Server + Postgres CPU per successful transfer, in µs. */
function cpuPerTransferUs(run: LoadRun): number {
  const figures = loadFigures(run);
  return ((run.cpu!.serverCores ?? NaN) + (run.cpu!.postgresCores ?? NaN)) * (1e6 / figures.throughput!);
}

/**
 * W1: S1's load against the server with `WEB_CONCURRENCY=2` and against the bench's own single-process
 * server, back to back in one round (the order alternates between rounds, so neither always runs on the
 * warmer database). The workers' server is a second instance on the same database, started in the first
 * round, warmed by one unmeasured run (its workers' caches start empty, the bench's server's do not) and kept
 * to the end of the run (the bench stops it); the single process sits idle meanwhile. The primary's own CPU
 * (rate-limit buckets for every request, over IPC) is reported apart from its workers'.
 */
let rounds = 0;
let workers: ServerProcess | null = null;
const WARMUP_MS = 5_000;

export const w1: Scenario = {
  id: 'W1',
  title: `probe: S1 with WEB_CONCURRENCY=${W1_WORKERS} ÷ with 1 (node:cluster workers sharing the port)`,
  phase: 'round',
  async measure(ctx: BenchContext) {
    if (!ctx.startInstance) throw new Error('W1 needs a second instance, which only npm run bench starts');
    if (workers === null) {
      workers = await ctx.startInstance({ WEB_CONCURRENCY: String(W1_WORKERS) });
      await ctx.drive({ ...transferSpec(ctx), target: workers, timing: { warmupMs: 0, durationMs: WARMUP_MS } });
    }
    const target = workers;
    const single = () => ctx.drive(transferSpec(ctx));
    const clustered = () => ctx.drive({ ...transferSpec(ctx), target });
    rounds += 1;
    let one: LoadRun;
    let two: LoadRun;
    if (rounds % 2 === 1) {
      one = await single();
      two = await clustered();
    } else {
      two = await clustered();
      one = await single();
    }
    const a = loadFigures(one);
    const b = loadFigures(two);
    const figures: Figures = {
      throughput1: a.throughput!,
      throughput2: b.throughput!,
      errors: a.errors! + b.errors!,
      p99Ms1: a.p99Ms!,
      p99Ms2: b.p99Ms!,
      cpuPerTransferUs1: cpuPerTransferUs(one),
      cpuPerTransferUs2: cpuPerTransferUs(two),
      serverCores1: a.serverCores!,
      serverCores2: b.serverCores!,
      postgresCores1: a.postgresCores!,
      postgresCores2: b.postgresCores!,
      driverCores2: b.driverCores!,
      machineCores2: b.machineCores!,
      primaryCores2: two.cpu?.serverOwnCores ?? NaN,
      primaryShare2: (two.cpu?.serverOwnCores ?? NaN) / (two.cpu?.serverCores ?? NaN),
    };
    ctx.log(
      `W1: ${figures.throughput2.toFixed(0)} transfers/s with ${W1_WORKERS} workers, ${figures.throughput1.toFixed(0)} with 1; ` +
        `server+Postgres CPU ${figures.cpuPerTransferUs2.toFixed(0)} µs vs ${figures.cpuPerTransferUs1.toFixed(0)} µs per transfer; ` +
        `primary ${(figures.primaryShare2 * 100).toFixed(1)} % of the server's CPU; machine ${figures.machineCores2.toFixed(2)} of ${os.cpus().length} cores busy`,
    );
    return { figures, detail: { single: { cpu: one.cpu }, workers: { cpu: two.cpu } } };
  },
  targets: (all) => {
    const w = all.W1;
    const cores = os.cpus().length;
    const busy = w?.machineCores2 ?? NaN;
    const bound =
      busy >= 0.9 * cores
        ? 'the machine is saturated: each core a worker takes is one Postgres and the driver no longer have'
        : 'the machine had idle cores: the bound is elsewhere (locks, the driver, round trips)';
    return [
      ratioRow({
        scenario: 'W1',
        figure: `S1 transfers/s with WEB_CONCURRENCY=${W1_WORKERS}`,
        value: w?.throughput2,
        unit: '/s',
        reference: 'S1 with WEB_CONCURRENCY=1, same round',
        referenceValue: w?.throughput1,
        note:
          `CPU per transfer (server + Postgres) ${(w?.cpuPerTransferUs2 ?? NaN).toFixed(0)} µs with workers, ` +
          `${(w?.cpuPerTransferUs1 ?? NaN).toFixed(0)} µs without; the primary took ${((w?.primaryShare2 ?? NaN) * 100).toFixed(1)} % ` +
          `of the server's CPU. Bound on ${cores} cores: the workers (${(w?.serverCores2 ?? NaN).toFixed(2)} cores), Postgres ` +
          `(${(w?.postgresCores2 ?? NaN).toFixed(2)}) and the driver (${(w?.driverCores2 ?? NaN).toFixed(2)}) share the same cores, ` +
          `${busy.toFixed(2)} of ${cores} busy; ${bound}`,
      }),
    ];
  },
};
