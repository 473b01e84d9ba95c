import type { BenchContext } from '../lib/context.js';
import { referenceScenarios, type PgbenchSetup } from './references.js';
import type { Scenario } from './scenario.js';
import { s1 } from './s1-transfer.js';
import { s2 } from './s2-issue.js';
import { s3 } from './s3-redeem.js';
import { s4 } from './s4-batches.js';
import { s5 } from './s5-fixed-rate.js';
import { s6a, s6b } from './s6-reads.js';
import { s7 } from './s7-subscribers.js';
import { s9 } from './s9-startup.js';
import { s1l, s2l } from './limits.js';
import { r1 } from './r1-import.js';
import { rc1, rc2 } from './rc-reconciliation.js';
import { e1, e2, f0 } from '../probes/index.js';
import { p1, p2, p2n, p3 } from '../probes/posting-sql.js';
import { t1, x1 } from '../probes/fanout.js';
import { h0 } from '../probes/bare-http.js';
import { n1, n4 } from '../probes/event-feed.js';
import { w1 } from '../probes/workers.js';

/**
 * Every scenario of `npm run bench`, in the order a round runs them: each reference right before the
 * scenario compared with it, and each probe beside the scenario it takes apart (X1 and T1, the fan-out
 * across instances, after S7; N1 and N4, S1's and S4's load with the event feed and without it, after them;
 * W1, S1's load with two worker processes and with one, after N1;
 * S1L and S2L, S1 and S2 with program limits on every account, right after each).
 * To add a scenario, write its module and list it here.
 */
export function allScenarios(pgbench: (ctx: BenchContext) => PgbenchSetup | null): Scenario[] {
  const [pg16, pg1] = referenceScenarios(pgbench);
  return [
    pg16!,
    s1,
    s1l,
    n1,
    w1,
    e1,
    f0,
    h0,
    p1,
    p2,
    p2n,
    p3,
    pg1!,
    s2,
    s2l,
    e2,
    s3,
    s4,
    n4,
    s6a,
    s6b,
    s5,
    s7,
    x1,
    t1,
    s9,
    r1,
    rc1,
    rc2,
  ];
}
