import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { createFormation, missingTools, waitUntil, type Formation, type FormationNode } from './support/auto-failover';
import { buildChaosWorld, gqlRequest, type ChaosTarget, type ChaosWorld } from './support/chaos';
import { startServerProcess, type ServerProcess } from './support/process';
import { ADMIN_KEY } from './support/server';

/**
 * `npm run test:failover`: the API against a pg_auto_failover formation (a monitor, a primary and a
 * synchronous standby on loopback ports), 32 clients posting through it, and the primary's postmaster
 * killed with SIGKILL mid-load. After the failover: every acknowledged posting is on the new primary exactly
 * once, the keys that got no answer land at most once when replayed, `ledgerIntegrity` is clean, and the
 * time from the kill to the first successful posting is printed (not asserted: the monitor bounds it).
 *
 * By default the postmaster alone is killed: the node's keeper, still alive, tells the monitor, which fails
 * over to the standby within seconds. FAILOVER_KILL=node kills the node's pg_autoctl first, as when its
 * machine dies: the monitor then waits out its own timeouts before it promotes the standby.
 *
 * FAILOVER_UNHEALTHY_MS and FAILOVER_DEMOTE_MS set the monitor's node_considered_unhealthy_timeout and
 * primary_demote_timeout; by default pg_auto_failover's own defaults apply.
 */

const CLIENTS = 32;
const WARM_UP_MS = Number(process.env.FAILOVER_WARM_UP_MS ?? 5_000);
// After the kill the load runs until this many postings succeeded on the new primary, or the limit passed.
const POSTINGS_AFTER_FAILOVER = 200;
const AFTER_KILL_MS_MAX = 180_000;
const KILL_KEEPER = (process.env.FAILOVER_KILL ?? 'postmaster') === 'node';
const WRITABLE_STATES = ['single', 'wait_primary', 'primary'];

interface Posting {
  key: string;
  query: string;
  variables: Record<string, unknown>;
  outcome: 'acknowledged' | 'rejected' | 'unanswered';
  code?: string;
  transactionId?: string;
  /** Saw a retryable error or no answer before its final outcome: it may or may not have committed then. */
  ambiguous: boolean;
  replayed?: boolean;
  /** When its last request was sent, when the answer came, when it first got none (performance.now()). */
  lastSentAt: number;
  troubleAt?: number;
  answeredAt?: number;
}

const ISSUE = `mutation($i: IssueInput!) { issue(input: $i) { replayed transaction { id } } }`;
const TRANSFER = `mutation($i: TransferInput!) { transfer(input: $i) { replayed transaction { id } } }`;

function newPosting(world: ChaosWorld): Posting {
  const root = world.roots[Math.floor(Math.random() * world.roots.length)]!;
  const pickAccount = () => root.accounts[Math.floor(Math.random() * root.accounts.length)]!;
  const key = `failover-${randomBytes(8).toString('hex')}`;
  const amount = String(1 + Math.floor(Math.random() * 20));
  if (Math.random() < 0.3) {
    return {
      key,
      query: ISSUE,
      variables: { i: { accountId: pickAccount(), asset: 'PTS', amount, idempotencyKey: key } },
      outcome: 'unanswered',
      ambiguous: false,
      lastSentAt: 0,
    };
  }
  const from = pickAccount();
  let to = pickAccount();
  while (to === from) to = pickAccount();
  return {
    key,
    query: TRANSFER,
    variables: { i: { fromAccountId: from, toAccountId: to, asset: 'USD', amount, idempotencyKey: key } },
    outcome: 'unanswered',
    ambiguous: false,
    lastSentAt: 0,
  };
}

/** One request for a posting; true once it has a final answer. */
async function send(target: ChaosTarget, posting: Posting): Promise<boolean> {
  posting.lastSentAt = performance.now();
  let result: { data?: any; errors?: any[] };
  try {
    result = await gqlRequest(target, posting.query, posting.variables, 15_000);
  } catch {
    posting.ambiguous = true;
    posting.troubleAt ??= performance.now();
    return false;
  }
  const error = result.errors?.[0];
  if (error?.extensions?.retryable === true) {
    posting.ambiguous = true;
    posting.troubleAt ??= performance.now();
    return false;
  }
  posting.answeredAt = performance.now();
  if (error) {
    posting.outcome = 'rejected';
    posting.code = error.extensions?.code ?? 'NO_CODE';
  } else {
    const answer = Object.values(result.data ?? {})[0] as { replayed: boolean; transaction: { id: string } };
    posting.outcome = 'acknowledged';
    posting.transactionId = answer.transaction.id;
    posting.replayed = answer.replayed;
  }
  return true;
}

/** A client as a careful integrator writes one: a retryable error or no answer is retried with the same key. */
async function client(target: ChaosTarget, world: ChaosWorld, postings: Posting[], stop: () => boolean) {
  while (!stop()) {
    const posting = newPosting(world);
    postings.push(posting);
    let delayMs = 100;
    while (!(await send(target, posting))) {
      if (stop()) return;
      await new Promise((resolve) => setTimeout(resolve, delayMs * (0.5 + Math.random())));
      delayMs = Math.min(delayMs * 2, 1_000);
    }
  }
}

/** The first moment after the kill that a request got a retryable error or no answer. */
function firstTrouble(postings: readonly Posting[], killedAt: number | null): number | null {
  if (killedAt === null) return null;
  let first: number | null = null;
  for (const posting of postings) {
    if (
      posting.troubleAt !== undefined &&
      posting.troubleAt > killedAt &&
      (first === null || posting.troubleAt < first)
    )
      first = posting.troubleAt;
  }
  return first;
}

/** The first moment one of `nodes` accepts a write (transaction_read_only off, not in recovery), polled. */
async function watchWritable(
  formation: Formation,
  nodes: FormationNode[],
  stop: () => boolean,
): Promise<number | null> {
  while (!stop()) {
    for (const node of nodes) {
      const writable = await onNode(formation, node, async (db) => {
        const { rows } = await db.query(
          "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off' AS writable",
        );
        return rows[0].writable as boolean;
      }).catch(() => false);
      if (writable) return performance.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return null;
}

async function onNode<T>(formation: Formation, node: FormationNode, work: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: formation.nodeUrl(node) });
  await db.connect();
  try {
    return await work(db);
  } finally {
    await db.end();
  }
}

it('loses no acknowledged posting when the primary dies, and follows the new primary without a restart', async () => {
  const missing = missingTools();
  if (missing !== null) throw new Error(`npm run test:failover needs pg_auto_failover: ${missing}`);
  const say = (line: string) => process.stdout.write(`[failover] ${line}\n`);
  const formation = await createFormation({ log: say });
  let server: ServerProcess | null = null;
  try {
    const [first, second] = formation.nodes as [FormationNode, FormationNode];
    const monitorSetting = async (name: string) => {
      const db = new pg.Client({
        connectionString: `postgresql://postgres@127.0.0.1:${formation.monitorPort}/pg_auto_failover`,
      });
      await db.connect();
      try {
        const wanted =
          process.env[name === 'node_considered_unhealthy_timeout' ? 'FAILOVER_UNHEALTHY_MS' : 'FAILOVER_DEMOTE_MS'];
        if (wanted && ['node_considered_unhealthy_timeout', 'primary_demote_timeout'].includes(name)) {
          await db.query(`ALTER SYSTEM SET pgautofailover.${name} = ${Number(wanted)}`);
          await db.query('SELECT pg_reload_conf()');
        }
        return (await db.query(`SHOW pgautofailover.${name}`)).rows[0][`pgautofailover.${name}`] as string;
      } finally {
        await db.end();
      }
    };
    const settings = {
      unhealthy: await monitorSetting('node_considered_unhealthy_timeout'),
      demote: await monitorSetting('primary_demote_timeout'),
      healthCheckPeriod: await monitorSetting('health_check_period'),
    };
    const replication = await onNode(formation, first, async (db) => ({
      synchronousCommit: (await db.query('SHOW synchronous_commit')).rows[0].synchronous_commit as string,
      standbys: (await db.query('SHOW synchronous_standby_names')).rows[0].synchronous_standby_names as string,
    }));
    say(`monitor: ${JSON.stringify(settings)}; primary: ${JSON.stringify(replication)}`);
    expect(replication.standbys).not.toBe('');
    expect(['on', 'remote_apply', 'remote_write']).toContain(replication.synchronousCommit);

    server = await startServerProcess({
      DATABASE_URL: formation.url,
      ADMIN_API_KEY: ADMIN_KEY,
      SCHEDULER_INTERVAL_SECONDS: '0',
      DB_POOL_MAX: '20',
      LOG_LEVEL: 'info',
    });
    const target = { url: server.url, secret: ADMIN_KEY };
    const world = await buildChaosWorld(target, 6);

    const postings: Posting[] = [];
    let killedAt: number | null = null;
    let stopping = false;
    const acknowledgedAfterKill = () => {
      const troubleAt = firstTrouble(postings, killedAt);
      return troubleAt === null
        ? 0
        : postings.filter((posting) => posting.outcome === 'acknowledged' && posting.lastSentAt > troubleAt).length;
    };
    const stop = () =>
      stopping ||
      (killedAt !== null &&
        (acknowledgedAfterKill() >= POSTINGS_AFTER_FAILOVER || performance.now() - killedAt > AFTER_KILL_MS_MAX));
    const load = Promise.all(Array.from({ length: CLIENTS }, () => client(target, world, postings, stop)));

    await new Promise((resolve) => setTimeout(resolve, WARM_UP_MS));
    const beforeKill = postings.filter((posting) => posting.outcome === 'acknowledged').length;
    killedAt = performance.now();
    const { postmasterPid } = await formation.killNode(first, { keeper: KILL_KEEPER });
    say(
      `killed ${first.name}'s postmaster ${postmasterPid}${KILL_KEEPER ? ' and its keeper' : ''} after ${beforeKill} acknowledged postings`,
    );
    // When a node first takes writes again, seen from outside the API: what the API's own delay is measured against.
    const writableAt = watchWritable(formation, [second], stop);
    await load;
    stopping = true;
    const writable = await writableAt;

    // The old primary's backends outlive its postmaster until they notice, and may still commit (with the
    // standby's acknowledgement): the outage starts at the first request that got no answer.
    const trouble = firstTrouble(postings, killedAt);
    expect(trouble).not.toBeNull();
    const troubleAt = trouble ?? Number.POSITIVE_INFINITY;
    const afterKill = postings.filter(
      (posting) => posting.lastSentAt > troubleAt && posting.outcome === 'acknowledged',
    );
    const firstSuccessMs = Math.min(...afterKill.map((posting) => posting.answeredAt! - killedAt!));
    const lastOldMs = Math.max(
      0,
      ...postings
        .filter(
          (posting) =>
            posting.outcome === 'acknowledged' && posting.lastSentAt > killedAt! && posting.lastSentAt < troubleAt,
        )
        .map((posting) => posting.answeredAt! - killedAt!),
    );
    // The monitor settles on one node that takes writes; the other is dead, demoted or catching up. A dead
    // node's reported state is the last it sent, so the monitor's goal for it is what counts.
    const isPrimary = (state: { reported: string; goal: string }) =>
      WRITABLE_STATES.includes(state.goal) && state.reported === state.goal;
    let states = await formation.states();
    await waitUntil(
      async () => {
        states = await formation.states();
        return [...states.values()].filter(isPrimary).length === 1;
      },
      60_000,
      'the monitor did not settle on one primary',
    );
    const primary = formation.nodes.find((node) => isPrimary(states.get(node.name)!))!;
    say(`monitor states after the kill: ${JSON.stringify(Object.fromEntries(states))}`);
    say(
      `a node took writes again ${writable === null ? '(not seen)' : `${((writable - killedAt) / 1000).toFixed(1)} s`} after the kill; ` +
        `first request without an answer ${((troubleAt - killedAt) / 1000).toFixed(1)} s, last answered before it ${(lastOldMs / 1000).toFixed(1)} s, ` +
        `first successful posting after it ${(firstSuccessMs / 1000).toFixed(1)} s after the kill ` +
        `(monitor: node_considered_unhealthy_timeout ${settings.unhealthy}, primary_demote_timeout ${settings.demote})`,
    );
    expect(afterKill.length).toBeGreaterThan(0);
    say(`writes go to ${primary.name} now${primary === first ? ' (no failover: the same node again)' : ''}`);
    // A dead node cannot be the primary; after a failover the server found the new one by itself.
    if (KILL_KEEPER) expect(primary).toBe(second);
    if (primary === second) expect(server.output()).toMatch(/database primary moved/);

    // Keys still without an answer when the load stopped are replayed with their own keys.
    const unanswered = postings.filter((posting) => posting.outcome === 'unanswered');
    for (const posting of unanswered) {
      let attempts = 0;
      while (!(await send(target, posting)) && attempts < 20) {
        attempts += 1;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    // An acknowledged posting asked again answers the same transaction, marked replayed.
    const sample = postings.filter((posting) => posting.outcome === 'acknowledged').slice(0, 20);
    for (const posting of sample) {
      const again = await gqlRequest(target, posting.query, posting.variables);
      const answer = Object.values(again.data ?? {})[0] as { replayed: boolean; transaction: { id: string } };
      expect(answer).toEqual({ replayed: true, transaction: { id: posting.transactionId } });
    }

    const counts = await onNode(formation, primary, async (db) => {
      expect((await db.query('SELECT pg_is_in_recovery() AS r')).rows[0].r).toBe(false);
      const { rows } = await db.query<{ idempotency_key: string; id: string; n: number }>(
        'SELECT idempotency_key, min(id::text) AS id, count(*)::int AS n FROM transactions WHERE idempotency_key = ANY($1) GROUP BY idempotency_key',
        [postings.map((posting) => posting.key)],
      );
      return new Map(rows.map((row) => [row.idempotency_key, row]));
    });
    const problems: string[] = [];
    for (const posting of postings) {
      const present = counts.get(posting.key)?.n ?? 0;
      if (posting.outcome === 'acknowledged') {
        if (present !== 1) problems.push(`acknowledged ${posting.key} is present ${present} times`);
        else if (counts.get(posting.key)!.id !== posting.transactionId)
          problems.push(`acknowledged ${posting.key} answered ${posting.transactionId}, the database holds another`);
      } else if (posting.outcome === 'rejected') {
        if (present !== 0) problems.push(`rejected ${posting.key} (${posting.code}) is present`);
      } else if (present > 1) {
        problems.push(`unanswered ${posting.key} is present ${present} times`);
      }
    }
    for (const root of world.roots) {
      const report = await gqlRequest(target, `query($l: ID!) { ledgerIntegrity(ledgerId: $l) { ok problems } }`, {
        l: root.ledgerId,
      });
      if (!report.data?.ledgerIntegrity?.ok)
        problems.push(
          `integrity of ${root.ledgerId}: ${JSON.stringify(report.data?.ledgerIntegrity ?? report.errors)}`,
        );
    }

    const tally = (filter: (posting: Posting) => boolean) => postings.filter(filter).length;
    say(
      `postings: ${postings.length} sent, ${tally((p) => p.outcome === 'acknowledged')} acknowledged ` +
        `(${tally((p) => p.outcome === 'acknowledged' && p.ambiguous)} after a retry, ` +
        `${tally((p) => p.outcome === 'acknowledged' && p.ambiguous && p.replayed === true)} of them replays of a commit ` +
        `the client never heard of), ${tally((p) => p.outcome === 'rejected')} refused ` +
        `(${[...new Set(postings.filter((p) => p.outcome === 'rejected').map((p) => p.code))].join(', ') || 'none'}), ` +
        `${tally((p) => p.outcome === 'unanswered')} still unanswered after replay`,
    );
    const moved = server
      .output()
      .split('\n')
      .filter((line) => /database primary (found|moved|lost)/.test(line));
    say(`server: ${moved.length} locator lines, last: ${moved.at(-1) ?? 'none'}`);
    expect(problems).toEqual([]);
    // Refusals are the ledger's own (funds), never a failure of the switch.
    expect(postings.filter((p) => p.outcome === 'rejected' && p.code !== 'INSUFFICIENT_FUNDS')).toEqual([]);
  } finally {
    if (server !== null) await server.stop('SIGTERM');
    await formation.destroy();
  }
}, 900_000);
