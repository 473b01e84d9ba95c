import type { WorkloadFactory } from '../lib/driver-protocol.js';

/**
 * Request bodies of the posting scenarios, built by string concatenation: the driver shares the
 * machine with the server, so it must not spend its CPU on JSON.stringify per request. Every request
 * carries a fresh idempotency key (`<run prefix>-<sequence>`).
 */
const TRANSFER = JSON.stringify(
  'mutation Transfer($input: TransferInput!) { transfer(input: $input) { replayed transaction { id postedAt } } }',
);
const ISSUE = JSON.stringify(
  'mutation Issue($input: IssueInput!) { issue(input: $input) { replayed transaction { id postedAt } } }',
);
const REDEEM = JSON.stringify(
  'mutation Redeem($input: RedeemInput!) { redeem(input: $input) { replayed transaction { id postedAt } } }',
);

export interface PostingParams {
  accountIds: string[];
  asset: string;
  /** Amounts are drawn uniformly from 1..amountMax. */
  amountMax: number;
  /** Redeem only: this share of requests asks for more than any balance holds. */
  failShare?: number;
}

function pick(random: () => number, count: number): number {
  return Math.floor(random() * count);
}

export const workloads: Record<string, WorkloadFactory> = {
  transfer: (params: PostingParams, random, prefix) => (sequence) => {
    const count = params.accountIds.length;
    const from = pick(random, count);
    let to = pick(random, count - 1);
    if (to >= from) to += 1;
    const amount = 1 + pick(random, params.amountMax);
    return `{"query":${TRANSFER},"variables":{"input":{"fromAccountId":"${params.accountIds[from]}","toAccountId":"${params.accountIds[to]}","asset":"${params.asset}","amount":"${amount}","idempotencyKey":"${prefix}-${sequence}"}}}`;
  },
  issue: (params: PostingParams, random, prefix) => (sequence) => {
    const account = params.accountIds[pick(random, params.accountIds.length)];
    const amount = 1 + pick(random, params.amountMax);
    return `{"query":${ISSUE},"variables":{"input":{"accountId":"${account}","asset":"${params.asset}","amount":"${amount}","idempotencyKey":"${prefix}-${sequence}"}}}`;
  },
  redeem: (params: PostingParams, random, prefix) => (sequence) => {
    const account = params.accountIds[pick(random, params.accountIds.length)];
    // A failing request asks for more than the whole supply: INSUFFICIENT_FUNDS whatever the balance.
    const amount = random() < (params.failShare ?? 0) ? '1000000000000000' : String(1 + pick(random, params.amountMax));
    return `{"query":${REDEEM},"variables":{"input":{"accountId":"${account}","asset":"${params.asset}","amount":"${amount}","idempotencyKey":"${prefix}-${sequence}"}}}`;
  },
};

export const POSTINGS_MODULE = __filename;

const POST_TRANSACTIONS = JSON.stringify(
  'mutation Batch($input: PostTransactionsInput!) { postTransactions(input: $input) { replayed error { code } transaction { id } } }',
);

export interface BatchParams extends PostingParams {
  ledgerId: string;
  /** Postings per request. */
  size: number;
  atomic: boolean;
}

/** `postTransactions`: `size` transfers between random customers per request, one fresh key per item. */
workloads.batch = (params: BatchParams, random, prefix) => (sequence) => {
  const count = params.accountIds.length;
  const items: string[] = [];
  for (let item = 0; item < params.size; item += 1) {
    const from = pick(random, count);
    let to = pick(random, count - 1);
    if (to >= from) to += 1;
    const amount = 1 + pick(random, params.amountMax);
    items.push(
      `{"ledgerId":"${params.ledgerId}","idempotencyKey":"${prefix}-${sequence}-${item}","kind":"TRANSFER","entries":[` +
        `{"accountId":"${params.accountIds[from]}","asset":"${params.asset}","direction":"DEBIT","amount":"${amount}"},` +
        `{"accountId":"${params.accountIds[to]}","asset":"${params.asset}","direction":"CREDIT","amount":"${amount}"}]}`,
    );
  }
  return `{"query":${POST_TRANSACTIONS},"variables":{"input":{"atomic":${params.atomic},"transactions":[${items.join(',')}]}}}`;
};
