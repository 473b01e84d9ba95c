import { pgbenchRun, type PgbenchRun } from '../lib/pgbench.js';
import type { BenchContext } from '../lib/context.js';
import type { Measurement, Scenario } from './scenario.js';

/**
 * The yardstick, measured on a separate database of the same server in the same run, interleaved
 * with the scenarios round by round: pgbench's built-in TPC-B-like script, 8 clients, default (simple)
 * query protocol; the prepared protocol is recorded beside it for information.
 */
export interface PgbenchSetup {
  binary: string;
  urlByScale: Record<number, string>;
  seconds: number;
  clients: number;
  threads: number;
  withPrepared: boolean;
}

export const PGBENCH_CLIENTS = 8;

/** Where the cores went during a pgbench run; otherCores is what neither pgbench nor Postgres used. */
export function cpuFigures(run: PgbenchRun): Record<string, number> {
  if (run.cpu === null) return {};
  const { serverCores, postgresCores, machineCores } = run.cpu;
  return {
    pgbenchCores: serverCores ?? NaN,
    postgresCores: postgresCores ?? NaN,
    machineCores,
    otherCores: Math.max(0, machineCores - (serverCores ?? 0) - (postgresCores ?? 0)),
    postgresCpuUsPerTransaction: ((postgresCores ?? NaN) * 1e6) / run.tps,
  };
}

function reference(id: string, scale: number, getSetup: (ctx: BenchContext) => PgbenchSetup | null): Scenario {
  return {
    id,
    title: `pgbench TPC-B, scale ${scale}, ${PGBENCH_CLIENTS} clients`,
    phase: 'round',
    async measure(ctx): Promise<Measurement> {
      const setup = getSetup(ctx);
      if (setup === null) throw new Error('pgbench is not available');
      const options = {
        clients: setup.clients,
        threads: setup.threads,
        seconds: setup.seconds,
        postmasterPid: ctx.postmasterPid,
      };
      const simple: PgbenchRun = await pgbenchRun(setup.binary, setup.urlByScale[scale]!, {
        ...options,
        protocol: 'simple',
      });
      const figures: Record<string, number> = {
        tps: simple.tps,
        latencyAverageMs: simple.latencyAverageMs,
        failed: simple.failed,
        ...cpuFigures(simple),
      };
      // The prepared protocol is for information only: measured in the first round.
      if (setup.withPrepared && ctx.medians[id] === undefined) {
        const prepared = await pgbenchRun(setup.binary, setup.urlByScale[scale]!, { ...options, protocol: 'prepared' });
        figures.preparedTps = prepared.tps;
        figures.preparedLatencyAverageMs = prepared.latencyAverageMs;
      }
      ctx.log(
        `${id}: ${simple.tps.toFixed(0)} tps${figures.preparedTps ? ` (prepared ${figures.preparedTps.toFixed(0)})` : ''}`,
      );
      return { figures };
    },
    targets: () => [],
  };
}

export function referenceScenarios(getSetup: (ctx: BenchContext) => PgbenchSetup | null): Scenario[] {
  return [reference('PG16', 16, getSetup), reference('PG1', 1, getSetup)];
}
