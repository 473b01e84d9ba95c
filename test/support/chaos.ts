import { randomBytes } from 'node:crypto';
import type pg from 'pg';

/**
 * Chaos load: many concurrent clients drive random operations through a real server over HTTP and
 * keep a ledger of their own — every idempotency key they sent and what the server said about it.
 * `verifyChaos` then holds the database to that record and to the ledger's invariants.
 */

export interface ChaosTarget {
  url: string;
  secret: string;
}

export interface ChaosWorld {
  roots: Array<{ ledgerId: string; accounts: string[] }>;
}

/** What one request asked and what came back. `unknown`: no answer (network error, server killed). */
export interface Attempt {
  key: string;
  rootLedgerId: string;
  kind: 'posting' | 'settlement';
  outcome: 'acknowledged' | 'rejected' | 'unknown';
  code?: string;
  transactionId?: string;
  /** The request itself, so an unanswered one can be replayed with the same key. */
  query: string;
  /** The URL it was sent to (one of several instances). */
  via?: string;
  variables: Record<string, unknown>;
}

export interface ChaosReport {
  operations: number;
  byOutcome: Record<string, number>;
  attempts: Attempt[];
  minAvailableSeen: bigint;
}

const QUERIES = {
  issue: `mutation($i: IssueInput!) { issue(input: $i) { transaction { id } } }`,
  redeem: `mutation($i: RedeemInput!) { redeem(input: $i) { transaction { id } } }`,
  transfer: `mutation($i: TransferInput!) { transfer(input: $i) { transaction { id } } }`,
  hold: `mutation($i: HoldInput!) { hold(input: $i) { transaction { id } } }`,
  post: `mutation($id: ID!, $k: String!, $a: Amount) { postPendingTransaction(id: $id, idempotencyKey: $k, amount: $a) { transaction { id } } }`,
  void: `mutation($id: ID!, $k: String!) { voidPendingTransaction(id: $id, idempotencyKey: $k) { transaction { id } } }`,
  reverse: `mutation($id: ID!, $k: String!) { reverseTransaction(id: $id, idempotencyKey: $k) { transaction { id } } }`,
  batch: `mutation($i: PostTransactionsInput!) { postTransactions(input: $i) { transaction { id } error { code } } }`,
};

export async function gqlRequest(
  target: ChaosTarget,
  query: string,
  variables: Record<string, unknown>,
  timeoutMs = 30_000,
): Promise<{ data?: any; errors?: any[] }> {
  const response = await fetch(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${target.secret}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return (await response.json()) as { data?: any; errors?: any[] };
}

/** Two root ledgers, each with an expiring PTS and a plain USD asset and `accountsPerRoot` funded customers. */
export async function buildChaosWorld(target: ChaosTarget, accountsPerRoot = 16): Promise<ChaosWorld> {
  const must = async (query: string, variables: Record<string, unknown>) => {
    const result = await gqlRequest(target, query, variables);
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    return result.data;
  };
  const roots = [];
  for (let index = 0; index < 2; index += 1) {
    const ledger = (
      await must(`mutation($i: CreateLedgerInput!) { createLedger(input: $i) { id } }`, {
        i: { code: `chaos-${randomBytes(4).toString('hex')}`, name: 'Chaos' },
      })
    ).createLedger;
    await must(
      `mutation($l: ID!) { createAsset(input: { ledgerId: $l, code: "PTS", name: "Points", kind: POINTS, scale: 0, expiresAfterDays: 365 }) { id } }`,
      { l: ledger.id },
    );
    await must(
      `mutation($l: ID!) { createAsset(input: { ledgerId: $l, code: "USD", name: "Dollars", kind: CURRENCY, scale: 2 }) { id } }`,
      { l: ledger.id },
    );
    const accounts = [];
    for (let number = 0; number < accountsPerRoot; number += 1) {
      // Every fourth account may go 500 below zero: the floor is then -500, not 0.
      const overdraft = number % 4 === 0 ? { allowOverdraft: true, overdraftLimit: '500' } : {};
      const account = (
        await must(`mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }`, {
          i: { ledgerId: ledger.id, code: `c${number}`, ...overdraft },
        })
      ).createAccount;
      for (const asset of ['PTS', 'USD']) {
        await must(QUERIES.issue, {
          i: { accountId: account.id, asset, amount: '1000', idempotencyKey: `seed-${account.id}-${asset}` },
        });
      }
      accounts.push(account.id);
    }
    roots.push({ ledgerId: ledger.id, accounts });
  }
  return { roots };
}

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

function amount(max = 120): string {
  return String(1 + Math.floor(Math.random() * max));
}

/** Runs `concurrency` clients until `operations` requests were sent or `deadline` passed. */
export async function runChaos(
  /** Several targets (API instances): each request goes to one of them at random. */
  targets: ChaosTarget | ChaosTarget[],
  world: ChaosWorld,
  options: { concurrency: number; operations: number; deadline?: number; db?: pg.Pool; stopSignal?: () => boolean },
): Promise<ChaosReport> {
  const spread = Array.isArray(targets) ? targets : [targets];
  const attempts: Attempt[] = [];
  const holds: Array<{ id: string; rootLedgerId: string }> = [];
  const posted: Array<{ id: string; rootLedgerId: string }> = [];
  let sent = 0;
  let minAvailableSeen = 0n;
  const byOutcome: Record<string, number> = {};

  const record = async (
    rootLedgerId: string,
    kind: Attempt['kind'],
    name: string,
    query: string,
    variables: Record<string, unknown>,
    key: string,
  ): Promise<any> => {
    const target = pick(spread);
    const attempt: Attempt = { key, rootLedgerId, kind, outcome: 'unknown', query, variables, via: target.url };
    attempts.push(attempt);
    try {
      const result = await gqlRequest(target, query, variables);
      if (result.errors?.length) {
        attempt.outcome = 'rejected';
        attempt.code = result.errors[0].extensions?.code ?? 'NO_CODE';
      } else {
        attempt.outcome = 'acknowledged';
        attempt.transactionId = (Object.values(result.data ?? {})[0] as any)?.transaction?.id;
      }
      byOutcome[`${name}:${attempt.code ?? 'OK'}`] = (byOutcome[`${name}:${attempt.code ?? 'OK'}`] ?? 0) + 1;
      return result.data;
    } catch {
      byOutcome[`${name}:NO_ANSWER`] = (byOutcome[`${name}:NO_ANSWER`] ?? 0) + 1;
      return null;
    }
  };

  const step = async () => {
    const root = pick(world.roots);
    const asset = pick(['PTS', 'USD']);
    const key = `chaos-${randomBytes(8).toString('hex')}`;
    const roll = Math.random();
    if (roll < 0.15) {
      const data = await record(
        root.ledgerId,
        'posting',
        'issue',
        QUERIES.issue,
        { i: { accountId: pick(root.accounts), asset, amount: amount(), idempotencyKey: key } },
        key,
      );
      if (data?.issue) posted.push({ id: data.issue.transaction.id, rootLedgerId: root.ledgerId });
    } else if (roll < 0.35) {
      const data = await record(
        root.ledgerId,
        'posting',
        'redeem',
        QUERIES.redeem,
        { i: { accountId: pick(root.accounts), asset, amount: amount(300), idempotencyKey: key } },
        key,
      );
      if (data?.redeem) posted.push({ id: data.redeem.transaction.id, rootLedgerId: root.ledgerId });
    } else if (roll < 0.6) {
      const from = pick(root.accounts);
      const to = pick(root.accounts.filter((account) => account !== from));
      const data = await record(
        root.ledgerId,
        'posting',
        'transfer',
        QUERIES.transfer,
        { i: { fromAccountId: from, toAccountId: to, asset, amount: amount(300), idempotencyKey: key } },
        key,
      );
      if (data?.transfer) posted.push({ id: data.transfer.transaction.id, rootLedgerId: root.ledgerId });
    } else if (roll < 0.72) {
      const data = await record(
        root.ledgerId,
        'posting',
        'hold',
        QUERIES.hold,
        { i: { accountId: pick(root.accounts), asset, amount: amount(200), idempotencyKey: key } },
        key,
      );
      if (data?.hold) holds.push({ id: data.hold.transaction.id, rootLedgerId: root.ledgerId });
    } else if (roll < 0.8 && holds.length > 0) {
      const hold = pick(holds);
      const partial = Math.random() < 0.5 ? amount(50) : null;
      const data = await record(
        hold.rootLedgerId,
        'settlement',
        'post',
        QUERIES.post,
        { id: hold.id, k: key, a: partial },
        key,
      );
      if (data?.postPendingTransaction)
        posted.push({ id: data.postPendingTransaction.transaction.id, rootLedgerId: hold.rootLedgerId });
    } else if (roll < 0.86 && holds.length > 0) {
      const hold = pick(holds);
      await record(hold.rootLedgerId, 'settlement', 'void', QUERIES.void, { id: hold.id, k: key }, key);
    } else if (roll < 0.92 && posted.length > 0) {
      const original = pick(posted);
      await record(original.rootLedgerId, 'posting', 'reverse', QUERIES.reverse, { id: original.id, k: key }, key);
    } else {
      const atomic = Math.random() < 0.5;
      const items = Array.from({ length: 2 + Math.floor(Math.random() * 4) }, (_, index) => {
        const from = pick(root.accounts);
        const to = pick(root.accounts.filter((account) => account !== from));
        return {
          ledgerId: root.ledgerId,
          idempotencyKey: `${key}-${index}`,
          kind: 'TRANSFER',
          entries: [
            { accountId: from, asset, direction: 'DEBIT', amount: amount(200) },
            { accountId: to, asset, direction: 'CREDIT', amount: '0' },
          ],
        };
      });
      for (const item of items) item.entries[1]!.amount = item.entries[0]!.amount;
      const variables = { i: { atomic, transactions: items } };
      let result: { data?: any; errors?: any[] } | null = null;
      const target = pick(spread);
      try {
        result = await gqlRequest(target, QUERIES.batch, variables);
      } catch {
        result = null;
      }
      const outcome = (index: number): Pick<Attempt, 'outcome' | 'code' | 'transactionId'> => {
        if (result === null) return { outcome: 'unknown' };
        if (result.errors?.length) return { outcome: 'rejected', code: result.errors[0].extensions?.code };
        const item = result.data.postTransactions[index];
        return item.error
          ? { outcome: 'rejected', code: item.error.code }
          : { outcome: 'acknowledged', transactionId: item.transaction.id };
      };
      items.forEach((item, index) => {
        const single = { i: { atomic: true, transactions: [item] } };
        attempts.push({
          key: item.idempotencyKey,
          rootLedgerId: root.ledgerId,
          kind: 'posting',
          query: QUERIES.batch,
          variables: single,
          via: target.url,
          ...outcome(index),
        });
      });
      const label = `batch-${atomic ? 'atomic' : 'each'}:${result === null ? 'NO_ANSWER' : (result.errors?.[0]?.extensions?.code ?? 'OK')}`;
      byOutcome[label] = (byOutcome[label] ?? 0) + 1;
    }
  };

  const sampler = async () => {
    // Watches constrained balances while the load runs: none may ever show available below its floor.
    while (
      options.db &&
      sent < options.operations &&
      !options.stopSignal?.() &&
      Date.now() < (options.deadline ?? Infinity)
    ) {
      const { rows } = await options.db
        .query<{ worst: string | null }>(
          `SELECT min(CASE normal_balance WHEN 'CREDIT' THEN credits_posted - debits_posted - debits_pending ELSE debits_posted - credits_posted - credits_pending END - available_floor)::text AS worst
           FROM balances WHERE available_floor IS NOT NULL`,
        )
        .catch(() => ({ rows: [{ worst: null }] }));
      if (rows[0]?.worst !== null && rows[0]?.worst !== undefined && BigInt(rows[0].worst) < minAvailableSeen)
        minAvailableSeen = BigInt(rows[0].worst);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  const worker = async () => {
    while (sent < options.operations && !options.stopSignal?.() && Date.now() < (options.deadline ?? Infinity)) {
      sent += 1;
      await step();
    }
  };
  await Promise.all([sampler(), ...Array.from({ length: options.concurrency }, worker)]);
  return { operations: sent, byOutcome, attempts, minAvailableSeen };
}

/** Holds the database to what the clients were told, and to the ledger's invariants. Returns problems. */
export async function verifyChaos(
  db: pg.Pool,
  target: ChaosTarget,
  world: ChaosWorld,
  attempts: Attempt[],
): Promise<{ problems: string[]; checks: number }> {
  const problems: string[] = [];
  let checks = 0;
  const keys = attempts.map((attempt) => attempt.key);
  const { rows: transactions } = await db.query<{ idempotency_key: string; id: string; n: number }>(
    `SELECT idempotency_key, min(id::text) AS id, count(*)::int AS n FROM transactions WHERE idempotency_key = ANY($1) GROUP BY idempotency_key`,
    [keys],
  );
  const { rows: settlements } = await db.query<{ idempotency_key: string; n: number }>(
    `SELECT idempotency_key, count(*)::int AS n FROM hold_settlements WHERE idempotency_key = ANY($1) GROUP BY idempotency_key`,
    [keys],
  );
  const written = new Map(transactions.map((row) => [row.idempotency_key, row]));
  const settled = new Map(settlements.map((row) => [row.idempotency_key, row.n]));

  for (const attempt of attempts) {
    checks += 1;
    const present =
      attempt.kind === 'settlement' ? (settled.get(attempt.key) ?? 0) : (written.get(attempt.key)?.n ?? 0);
    if (attempt.outcome === 'acknowledged') {
      if (present !== 1) problems.push(`acknowledged ${attempt.key} is present ${present} times`);
      if (
        attempt.kind === 'posting' &&
        attempt.transactionId &&
        written.get(attempt.key)?.id !== attempt.transactionId
      ) {
        problems.push(
          `acknowledged ${attempt.key} answered ${attempt.transactionId} but the database holds ${written.get(attempt.key)?.id}`,
        );
      }
    } else if (attempt.outcome === 'rejected') {
      if (present !== 0) problems.push(`rejected ${attempt.key} (${attempt.code}) is present`);
      if (attempt.code === 'INTERNAL_SERVER_ERROR' || attempt.code === 'NO_CODE')
        problems.push(`${attempt.key} got ${attempt.code}`);
    } else if (present > 1) {
      problems.push(`unanswered ${attempt.key} is present ${present} times`);
    }
  }

  for (const root of world.roots) {
    checks += 1;
    const report = await gqlRequest(target, `query($l: ID!) { ledgerIntegrity(ledgerId: $l) { ok problems } }`, {
      l: root.ledgerId,
    });
    if (!report.data?.ledgerIntegrity?.ok)
      problems.push(
        `integrity of ${root.ledgerId}: ${JSON.stringify(report.data?.ledgerIntegrity?.problems ?? report.errors)}`,
      );
  }
  checks += 1;
  const { rows: below } = await db.query(
    `SELECT account_id FROM balances WHERE available_floor IS NOT NULL
        AND (CASE normal_balance WHEN 'CREDIT' THEN credits_posted - debits_posted - debits_pending ELSE debits_posted - credits_posted - credits_pending END) < available_floor`,
  );
  if (below.length > 0) problems.push(`${below.length} balances below their floor`);
  return { problems, checks };
}
