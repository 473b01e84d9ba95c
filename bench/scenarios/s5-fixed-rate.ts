import { limitRow, loadFigures, type Figures, type Scenario } from './scenario.js';
import { transferSpec } from './s1-transfer.js';
import { withClient } from '../lib/db.js';

export const S5_LOAD_SHARE = 0.5;
const CONNECTIONS_MAX = 64;

/** Transfers at a fixed arrival rate of half S1's median maximum; latency counts from the intended send time. */
export const s5: Scenario = {
  id: 'S5',
  title: `transfer at a fixed rate of ${S5_LOAD_SHARE * 100}% of S1's maximum`,
  phase: 'after',
  async measure(ctx) {
    const maximum = ctx.medians.S1?.throughput;
    if (!maximum || !Number.isFinite(maximum)) throw new Error('S5 needs S1 measured first');
    const rate = Math.max(1, Math.round(maximum * S5_LOAD_SHARE));
    // Checkpoints stall commits: counted per run so a tail latency can be told apart from one caused by
    // the shared server (CREATE/DROP DATABASE by other users forces an immediate checkpoint).
    const checkpoints = () =>
      withClient(ctx.databaseUrl, async (client) => {
        const { rows } = await client.query<{ count: string }>(
          'SELECT checkpoints_timed + checkpoints_req AS count FROM pg_stat_bgwriter',
        );
        return Number(rows[0]!.count);
      });
    const before = await checkpoints();
    const run = await ctx.drive({
      ...transferSpec(ctx),
      mode: { kind: 'open', ratePerSecond: rate, connectionsMax: CONNECTIONS_MAX },
    });
    const figures: Figures = {
      ...loadFigures(run),
      targetRate: rate,
      queuedLate: run.queuedLate ?? 0,
      p999Ms: run.latency.p999Ms,
      checkpoints: (await checkpoints()) - before,
    };
    ctx.log(
      `S5: ${rate}/s offered, ${figures.throughput!.toFixed(0)}/s done, p50 ${figures.p50Ms!.toFixed(2)} ms, p99 ${figures.p99Ms!.toFixed(2)} ms, ${figures.checkpoints} checkpoints during the run`,
    );
    return { figures, detail: { outcomes: run.outcomes, cpu: run.cpu } };
  },
  targets: (all) => [
    limitRow({
      scenario: 'S5',
      figure: `p99 latency at ${all.S5?.targetRate ?? '?'} transfers/s`,
      value: all.S5?.p99Ms,
      unit: 'ms',
      atMost: 15,
    }),
    limitRow({
      scenario: 'S5',
      figure: `p50 latency at ${all.S5?.targetRate ?? '?'} transfers/s`,
      value: all.S5?.p50Ms,
      unit: 'ms',
      atMost: 5,
    }),
  ],
};
