import type pg from 'pg';
import type { AuditEventRow } from '../audit/audit.js';
import { IdempotencyConflictError } from '../platform/errors.js';
import { nameItem, type PlannedEntry } from './postings.core.js';
import {
  BALANCE_COLUMNS,
  customerAccountIds,
  KEY_REUSED_SQLSTATE,
  parameterList,
  refusalOf,
  toAppliedBalance,
  type BalanceRow,
  type PostingWrite,
  type PostingWriteOutcome,
  type ShardedDelta,
  type TransactionInsert,
} from './postings.repository.js';

/** One item of an atomic batch, planned. */
export interface BatchItemWrite {
  transaction: TransactionInsert;
  deltas: ShardedDelta[];
  entries: Array<PlannedEntry & { id: string }>;
  audit: AuditEventRow;
  checkpointsFrom: Date | null;
}

/** An atomic batch within one root ledger, none of whose items moves lots or reverses anything. */
export interface BatchWrite {
  rootLedgerId: string;
  accounts: PostingWrite['accounts'];
  items: BatchItemWrite[];
}

const APPLY_POSTINGS_PARAMETERS = 39;

/**
 * Applies an atomic batch in one statement (apply_postings, migration 20261122000000): one round trip
 * whatever the batch size, every balance row locked once, each floor checked after every item in batch
 * order. Returns each item's outcome in batch order; a refusal fails the whole batch, naming its item.
 */
export async function applyPostings(
  runner: pg.Pool | pg.PoolClient,
  batch: BatchWrite,
): Promise<PostingWriteOutcome[]> {
  const { items } = batch;
  const actor = items[0]!.audit;
  const changes = items.flatMap((item, index) => item.deltas.map((delta) => ({ item: index + 1, delta })));
  const lines = items.flatMap((item, index) => item.entries.map((entry) => ({ item: index + 1, entry })));
  let result: pg.QueryResult<BalanceRow & { item: number; outcome: 'APPLIED' | 'CLAIM_TAKEN' }>;
  try {
    result = await runner.query<BalanceRow & { item: number; outcome: 'APPLIED' | 'CLAIM_TAKEN' }>({
      name: 'apply_postings',
      text: `SELECT o_item AS item, o_outcome AS outcome, ${BALANCE_COLUMNS} FROM apply_postings(${parameterList(APPLY_POSTINGS_PARAMETERS)})`,
      values: [
        batch.rootLedgerId,
        customerAccountIds(batch.accounts),
        items.map((item) => item.transaction.id),
        items.map((item) => item.transaction.ledgerId),
        items.map((item) => item.transaction.kind),
        items.map((item) => item.transaction.status),
        items.map((item) => item.transaction.idempotencyKey),
        items.map((item) => item.transaction.requestHash),
        items.map((item) => item.transaction.description),
        items.map((item) => JSON.stringify(item.transaction.metadata)),
        items.map((item) => item.transaction.effectiveAt),
        items.map((item) => item.transaction.postedAt),
        items.map((item) => item.transaction.isHold),
        items.map((item) => item.transaction.timeoutAt),
        items.map((item) => item.checkpointsFrom),
        items.map((item) => item.audit.id),
        actor.actorType,
        actor.actorId,
        actor.operation,
        actor.requestId,
        actor.clientAddress,
        changes.map(({ item }) => item),
        changes.map(({ delta }) => delta.accountId),
        changes.map(({ delta }) => delta.assetId),
        changes.map(({ delta }) => delta.shard),
        changes.map(({ delta }) => delta.ledgerId),
        changes.map(({ delta }) => delta.normalBalance),
        changes.map(({ delta }) => delta.availableFloor?.toString() ?? null),
        changes.map(({ delta }) => delta.debitsPosted.toString()),
        changes.map(({ delta }) => delta.creditsPosted.toString()),
        changes.map(({ delta }) => delta.debitsPending.toString()),
        changes.map(({ delta }) => delta.creditsPending.toString()),
        lines.map(({ item }) => item),
        lines.map(({ entry }) => entry.id),
        lines.map(({ entry }) => entry.accountId),
        lines.map(({ entry }) => entry.ledgerId),
        lines.map(({ entry }) => entry.assetId),
        lines.map(({ entry }) => entry.direction),
        lines.map(({ entry }) => entry.amount.toString()),
      ],
    });
  } catch (error) {
    throw batchRefusalOf(error, batch) ?? error;
  }
  const outcomes: PostingWriteOutcome[] = items.map(() => ({ claimed: true, balances: [] }));
  for (const row of result.rows) {
    const outcome = outcomes[row.item - 1]!;
    if (row.outcome === 'CLAIM_TAKEN') outcomes[row.item - 1] = { claimed: false };
    else if (outcome.claimed) outcome.balances.push(toAppliedBalance(row));
  }
  return outcomes;
}

function batchRefusalOf(error: unknown, batch: BatchWrite): Error | null {
  const { code, detail = '' } = error as { code?: string; detail?: string };
  const separator = detail.indexOf(';');
  if (separator < 0) return null;
  const index = Number(detail.slice(0, separator)) - 1;
  if (code === KEY_REUSED_SQLSTATE) {
    const key = batch.items[index]!.transaction.idempotencyKey;
    return nameItem(
      new IdempotencyConflictError(
        `idempotencyKey ${key} was already used for a different request (transaction ${detail.slice(separator + 1)})`,
      ),
      index,
    );
  }
  const refusal = refusalOf(error, batch.accounts);
  return refusal === null ? null : nameItem(refusal, index);
}
