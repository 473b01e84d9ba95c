import type { WorkloadFactory } from '../lib/driver-protocol.js';
import type { BenchContext } from '../lib/context.js';
import type { ServerProcess } from '../lib/server.js';
import { runEngineProbe } from './engine.js';
import { S1_CONCURRENCY } from '../scenarios/s1-transfer.js';
import type { Figures, Scenario } from '../scenarios/scenario.js';

/**
 * Probes: no targets of their own, they split the scenarios' figures into parts. E1/E2 run the posting
 * engine without HTTP or GraphQL; F0 is the cheapest request the server can answer (`{ __typename }`
 * with the bootstrap secret: no SQL at all), the floor of HTTP + GraphQL per request.
 */
export const PROBE_TIMING = { warmupMs: 1_000, durationMs: 5_000 };
const TYPENAME = JSON.stringify('{ __typename }');
/** F0's request body; H0 sends the same. */
export const TYPENAME_REQUEST = `{"query":${TYPENAME}}`;

export const workloads: Record<string, WorkloadFactory> = {
  typename: () => () => TYPENAME_REQUEST,
};

function engineProbe(id: string, operation: 'transfer' | 'issue'): Scenario {
  return {
    id,
    title: `probe: posting engine alone (${operation}, ${S1_CONCURRENCY} concurrent callers, no HTTP/GraphQL)`,
    phase: 'round',
    async measure(ctx: BenchContext) {
      const result = await runEngineProbe(
        {
          databaseUrl: ctx.databaseUrl,
          poolMax: ctx.poolMax,
          operation,
          rootLedgerId: ctx.fixture.rootLedgerId,
          accountIds: ctx.fixture.customerIds,
          asset: ctx.fixture.assetCode,
          concurrency: S1_CONCURRENCY,
          ...PROBE_TIMING,
        },
        ctx.postmasterPid,
      );
      const figures: Figures = {
        throughput: result.throughput,
        p50Ms: result.latency.p50Ms,
        p99Ms: result.latency.p99Ms,
        errors: result.errors,
        statementsPerPosting: result.statementsPerPosting,
        engineCores: result.cpu?.serverCores ?? NaN,
        postgresCores: result.cpu?.postgresCores ?? NaN,
        machineCores: result.cpu?.machineCores ?? NaN,
        engineCpuUsPerPosting: ((result.cpu?.serverCores ?? NaN) * 1e6) / result.throughput,
        postgresCpuUsPerPosting: ((result.cpu?.postgresCores ?? NaN) * 1e6) / result.throughput,
      };
      ctx.log(
        `${id}: engine ${operation} ${result.throughput.toFixed(0)}/s, p50 ${result.latency.p50Ms.toFixed(1)} ms, ${result.statementsPerPosting.toFixed(1)} statements/posting`,
      );
      return { figures };
    },
    targets: () => [],
  };
}

export const e1 = engineProbe('E1', 'transfer');
export const e2 = engineProbe('E2', 'issue');

/**
 * F0's load: `{ __typename }` with the bootstrap secret at S1's concurrency, against the bench's server or
 * another `target` (H0's bare node:http server), and the figures both probes report.
 */
export async function driveTypename(ctx: BenchContext, target?: ServerProcess): Promise<Figures> {
  const run = await ctx.drive({
    workload: { module: __filename, name: 'typename', params: null },
    mode: { kind: 'closed', concurrency: S1_CONCURRENCY },
    secret: ctx.fixture.secrets.admin,
    timing: PROBE_TIMING,
    target,
  });
  const ok = run.outcomes.OK?.latency.count ?? 0;
  const throughput = (ok * 1000) / run.measuredMs;
  return {
    throughput,
    p50Ms: run.latency.p50Ms,
    p99Ms: run.latency.p99Ms,
    errors: run.completed - ok,
    serverCores: run.cpu?.serverCores ?? NaN,
    serverCpuUsPerRequest: ((run.cpu?.serverCores ?? NaN) * 1e6) / throughput,
    driverCores: run.cpu?.driverCores ?? NaN,
    machineCores: run.cpu?.machineCores ?? NaN,
  };
}

export const f0: Scenario = {
  id: 'F0',
  title: `probe: { __typename } with the bootstrap secret (no SQL), ${S1_CONCURRENCY} concurrent clients`,
  phase: 'round',
  async measure(ctx) {
    const figures = await driveTypename(ctx);
    ctx.log(
      `F0: ${figures.throughput!.toFixed(0)} requests/s with no SQL, server ${figures.serverCpuUsPerRequest!.toFixed(0)} µs CPU per request`,
    );
    return { figures };
  },
  targets: () => [],
};
