import { createHash } from 'node:crypto';
import type pg from 'pg';
import { newId } from '../../src/platform/ids';

/**
 * A loyalty program written into a database of the previous release the way that release's server writes
 * one, in its SQL: ledgers, assets and accounts as rows with their audit events; every posting through the
 * release's own apply_posting (an atomic batch through apply_postings), with the lots and lot consumptions
 * its server writes in the same database transaction, and a hold released through hold_settlements.
 *
 * This speaks the write path of 0.1.0 (migration 20261122000000_posting_function, lots from
 * 20261121010000_lifecycle). Migrations are frozen, so a later release can only add to it; when a release
 * changes what its server writes, this file follows in the same change.
 */

export interface ReleasedAccount {
  id: string;
  ledgerId: string;
  code: string;
  isSystem: boolean;
  normalBalance: 'CREDIT' | 'DEBIT';
  /** The lowest `available` may reach: 0 without overdraft; null, unbounded (system accounts). */
  floor: bigint | null;
}

export interface ReleasedTenant {
  rootLedgerId: string;
  storeLedgerId: string;
  accounts: {
    alice: ReleasedAccount;
    bob: ReleasedAccount;
    issuance: ReleasedAccount;
    redemption: ReleasedAccount;
    expiry: ReleasedAccount;
    adjustment: ReleasedAccount;
  };
  /** Transaction ids by what they were. */
  transactions: {
    issuePoints: string;
    issueDollars: string;
    transferPoints: string;
    redeemPoints: string;
    reversalOfRedemption: string;
    openHold: string;
    voidedHold: string;
    batchIssue: string;
    batchTransfer: string;
  };
  /** The first issue's request, as a client sent it, to replay under its key after the upgrade. */
  issuePointsRequest: { accountId: string; asset: string; amount: string; idempotencyKey: string };
  /** When the points issued to alice lapse (the asset's 365-day policy), and so the lots carved from them. */
  pointsExpireAt: Date;
}

type Direction = 'DEBIT' | 'CREDIT';

interface Asset {
  id: string;
  code: string;
}

interface Line {
  account: ReleasedAccount;
  asset: Asset;
  direction: Direction;
  amount: bigint;
}

interface Posting {
  operation: string;
  kind: 'ISSUE' | 'REDEEM' | 'TRANSFER' | 'REVERSAL';
  ledgerId: string;
  idempotencyKey: string;
  /** The request as the client phrased it: its digest is what a replay under the same key is compared with. */
  request: Record<string, unknown>;
  lines: Line[];
  description?: string | null;
  /** A hold: its lines move the pending columns and it stays PENDING. */
  hold?: { timeoutAt: Date | null };
  reversalOfId?: string | null;
  /** The balance row an unconstrained system account writes: the release spreads them over 32 shards. */
  systemShard: number;
}

interface Delta {
  accountId: string;
  assetId: string;
  shard: number;
  ledgerId: string;
  normalBalance: 'CREDIT' | 'DEBIT';
  floor: bigint | null;
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
}

const ADMIN = { actorType: 'bootstrap', actorId: 'bootstrap-admin', clientAddress: '127.0.0.1' };
const POLICY_DAYS = 365;
const DAY_MS = 86_400_000;

/** Writes the program; each step below says what it leaves. */
export async function writeReleasedTenant(pool: pg.Pool): Promise<ReleasedTenant> {
  const client = await pool.connect();
  try {
    const program = await createProgram(client);
    const points = await writePointsHistory(client, program);
    const holds = await writeHolds(client, program);
    const dollars = await writeDollars(client, program);
    return {
      rootLedgerId: program.rootLedgerId,
      storeLedgerId: program.storeLedgerId,
      accounts: { alice: program.alice, bob: program.bob, ...program.system },
      transactions: { ...points.transactions, ...holds, ...dollars },
      issuePointsRequest: points.issuePointsRequest,
      pointsExpireAt: points.pointsExpireAt,
    };
  } finally {
    client.release();
  }
}

interface Program {
  rootLedgerId: string;
  storeLedgerId: string;
  system: Pick<ReleasedTenant['accounts'], 'issuance' | 'redemption' | 'expiry' | 'adjustment'>;
  points: Asset;
  dollars: Asset;
  alice: ReleasedAccount;
  bob: ReleasedAccount;
}

/** A root ledger with a store sub-ledger; PTS expiring after 365 days and plain USD; alice in the store, bob at the root. */
async function createProgram(client: pg.PoolClient): Promise<Program> {
  const rootLedgerId = await createLedger(client, 'upgrade-club', null);
  const storeLedgerId = await createLedger(client, 'upgrade-club.store', { id: rootLedgerId, path: [rootLedgerId] });
  return {
    rootLedgerId,
    storeLedgerId,
    system: await createSystemAccounts(client, rootLedgerId),
    points: await createAsset(client, rootLedgerId, 'PTS', 'POINTS', 0, POLICY_DAYS),
    dollars: await createAsset(client, rootLedgerId, 'USD', 'CURRENCY', 2, null),
    alice: await createAccount(client, rootLedgerId, storeLedgerId, 'alice'),
    bob: await createAccount(client, rootLedgerId, rootLedgerId, 'bob'),
  };
}

/**
 * 1000 PTS issued to alice (one lot), 300 of them transferred to bob (his lot keeps their expiry), 200 redeemed
 * by bob and that redemption reversed: alice holds 700, bob 300, and each lot what its owner holds.
 */
async function writePointsHistory(client: pg.PoolClient, { rootLedgerId, storeLedgerId, system, points, alice, bob }: Program) {
  const issuePointsRequest = { accountId: alice.id, asset: 'PTS', amount: '1000', idempotencyKey: 'upgrade-issue-pts' };
  const issuePoints = newId();
  const pointsExpireAt = await inTransaction(client, async () => {
    const effectiveAt = await postOne(client, rootLedgerId, issuePoints, {
      operation: 'issue',
      kind: 'ISSUE',
      ledgerId: storeLedgerId,
      idempotencyKey: issuePointsRequest.idempotencyKey,
      request: { operation: 'issue', ...issuePointsRequest, amount: 1000n },
      lines: [line(system.issuance, points, 'DEBIT', 1000n), line(alice, points, 'CREDIT', 1000n)],
      systemShard: 7,
    });
    const expiresAt = new Date(effectiveAt.getTime() + POLICY_DAYS * DAY_MS);
    await openLot(client, rootLedgerId, issuePoints, alice, points, 1000n, expiresAt);
    return expiresAt;
  });
  const aliceLot = await lotOf(client, alice, issuePoints);

  const transferPoints = newId();
  await inTransaction(client, async () => {
    const request = { fromAccountId: alice.id, toAccountId: bob.id, asset: 'PTS', amount: 300n, idempotencyKey: 'upgrade-transfer-pts' };
    await postOne(client, rootLedgerId, transferPoints, {
      operation: 'transfer',
      kind: 'TRANSFER',
      ledgerId: storeLedgerId,
      idempotencyKey: request.idempotencyKey,
      request: { operation: 'transfer', ...request },
      lines: [line(alice, points, 'DEBIT', 300n), line(bob, points, 'CREDIT', 300n)],
      systemShard: 0,
    });
    await consumeLots(client, rootLedgerId, transferPoints, [{ lotId: aliceLot, amount: 300n }]);
    await openLot(client, rootLedgerId, transferPoints, bob, points, 300n, pointsExpireAt);
  });
  const bobLot = await lotOf(client, bob, transferPoints);

  const redeemPoints = newId();
  await inTransaction(client, async () => {
    await postOne(client, rootLedgerId, redeemPoints, {
      operation: 'redeem',
      kind: 'REDEEM',
      ledgerId: rootLedgerId,
      idempotencyKey: 'upgrade-redeem-pts',
      request: { operation: 'redeem', accountId: bob.id, asset: 'PTS', amount: 200n, idempotencyKey: 'upgrade-redeem-pts' },
      lines: [line(system.redemption, points, 'CREDIT', 200n), line(bob, points, 'DEBIT', 200n)],
      systemShard: 3,
    });
    await consumeLots(client, rootLedgerId, redeemPoints, [{ lotId: bobLot, amount: 200n }]);
  });

  // The reversal gives bob's lot back exactly what the redemption took from it.
  const reversalOfRedemption = newId();
  await inTransaction(client, async () => {
    await postOne(client, rootLedgerId, reversalOfRedemption, {
      operation: 'reverseTransaction',
      kind: 'REVERSAL',
      ledgerId: rootLedgerId,
      idempotencyKey: 'upgrade-reverse-redeem',
      request: { operation: 'reverseTransaction', id: redeemPoints, reason: null },
      description: `Reversal of ${redeemPoints}`,
      lines: [line(system.redemption, points, 'DEBIT', 200n), line(bob, points, 'CREDIT', 200n)],
      reversalOfId: redeemPoints,
      systemShard: 11,
    });
    await consumeLots(client, rootLedgerId, reversalOfRedemption, [{ lotId: bobLot, amount: -200n }]);
  });

  return { transactions: { issuePoints, transferPoints, redeemPoints, reversalOfRedemption }, issuePointsRequest, pointsExpireAt };
}

/** A hold of 100 PTS on alice left open for the upgraded server to settle, and one of 40 on bob released. */
async function writeHolds(client: pg.PoolClient, { rootLedgerId, storeLedgerId, system, points, alice, bob }: Program) {
  const openHold = newId();
  await postOne(client, rootLedgerId, openHold, {
    operation: 'hold',
    kind: 'REDEEM',
    ledgerId: storeLedgerId,
    idempotencyKey: 'upgrade-hold-open',
    request: { operation: 'hold', accountId: alice.id, asset: 'PTS', amount: 100n, idempotencyKey: 'upgrade-hold-open', timeoutSeconds: 86_400 },
    lines: [line(system.redemption, points, 'CREDIT', 100n), line(alice, points, 'DEBIT', 100n)],
    hold: { timeoutAt: new Date(Date.now() + DAY_MS) },
    systemShard: 0,
  });

  const voidedHold = newId();
  const heldOnBob = [line(system.redemption, points, 'CREDIT', 40n), line(bob, points, 'DEBIT', 40n)];
  await postOne(client, rootLedgerId, voidedHold, {
    operation: 'hold',
    kind: 'REDEEM',
    ledgerId: rootLedgerId,
    idempotencyKey: 'upgrade-hold-voided',
    request: { operation: 'hold', accountId: bob.id, asset: 'PTS', amount: 40n, idempotencyKey: 'upgrade-hold-voided' },
    lines: heldOnBob,
    hold: { timeoutAt: null },
    systemShard: 0,
  });
  await voidHold(client, rootLedgerId, voidedHold, heldOnBob);
  return { openHold, voidedHold };
}

/**
 * $500.00 issued to bob, alone (a non-expiring asset moves no lots, so the posting is its one statement), then an
 * atomic postTransactions of $25.00 issued to alice and $10.00 from bob to her, in one apply_postings statement.
 */
async function writeDollars(client: pg.PoolClient, { rootLedgerId, system, dollars, alice, bob }: Program) {
  const issueDollars = newId();
  await postOne(client, rootLedgerId, issueDollars, {
    operation: 'issue',
    kind: 'ISSUE',
    ledgerId: rootLedgerId,
    idempotencyKey: 'upgrade-issue-usd',
    request: { operation: 'issue', accountId: bob.id, asset: 'USD', amount: 50_000n, idempotencyKey: 'upgrade-issue-usd' },
    lines: [line(system.issuance, dollars, 'DEBIT', 50_000n), line(bob, dollars, 'CREDIT', 50_000n)],
    systemShard: 19,
  });

  const batchIssue = newId();
  const batchTransfer = newId();
  await postBatch(client, rootLedgerId, [
    { id: batchIssue, posting: generalPosting(rootLedgerId, 'ISSUE', 'upgrade-batch-issue', [line(system.issuance, dollars, 'DEBIT', 2_500n), line(alice, dollars, 'CREDIT', 2_500n)], 23) },
    { id: batchTransfer, posting: generalPosting(rootLedgerId, 'TRANSFER', 'upgrade-batch-transfer', [line(bob, dollars, 'DEBIT', 1_000n), line(alice, dollars, 'CREDIT', 1_000n)], 0) },
  ]);
  return { issueDollars, batchIssue, batchTransfer };
}

function line(account: ReleasedAccount, asset: Asset, direction: Direction, amount: bigint): Line {
  return { account, asset, direction, amount };
}

/** A postTransaction item as a client phrases it, by account id. */
function generalPosting(ledgerId: string, kind: 'ISSUE' | 'TRANSFER', idempotencyKey: string, lines: Line[], systemShard: number): Posting {
  const entries = lines.map((entry) => ({ accountId: entry.account.id, asset: entry.asset.code, direction: entry.direction, amount: entry.amount }));
  return {
    operation: 'postTransaction',
    kind,
    ledgerId,
    idempotencyKey,
    request: { ledgerId, idempotencyKey, entries, kind, pending: false },
    lines,
    systemShard,
  };
}

async function inTransaction<T>(client: pg.PoolClient, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

async function audit(client: pg.PoolClient, rootLedgerId: string, operation: string, targetIds: string[]): Promise<void> {
  await client.query(
    `INSERT INTO audit_events (id, root_ledger_id, actor_type, actor_id, operation, target_ids, request_id, client_address)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [newId(), rootLedgerId, ADMIN.actorType, ADMIN.actorId, operation, targetIds, newId(), ADMIN.clientAddress],
  );
}

/** A root ledger (parent null) or a sub-ledger, with its audit event. */
async function createLedger(client: pg.PoolClient, code: string, parent: { id: string; path: string[] } | null): Promise<string> {
  const id = newId();
  const rootLedgerId = parent === null ? id : parent.path[0]!;
  await client.query(
    `INSERT INTO ledgers (id, root_ledger_id, parent_id, code, name, metadata, path) VALUES ($1, $2, $3, $4, $5, '{}', $6)`,
    [id, rootLedgerId, parent?.id ?? null, code, `${code} ledger`, [...(parent?.path ?? []), id]],
  );
  await audit(client, rootLedgerId, 'createLedger', [id]);
  return id;
}

/** The four system accounts a root ledger is created with: credit-normal, unbounded. */
async function createSystemAccounts(client: pg.PoolClient, rootLedgerId: string): Promise<Pick<ReleasedTenant['accounts'], 'issuance' | 'redemption' | 'expiry' | 'adjustment'>> {
  const make = async (code: string): Promise<ReleasedAccount> => {
    const id = newId();
    await client.query(
      `INSERT INTO accounts (id, root_ledger_id, ledger_id, code, name, normal_balance, allow_overdraft, overdraft_limit, is_system)
       VALUES ($1, $2, $2, $3, $3, 'CREDIT', true, NULL, true)`,
      [id, rootLedgerId, code],
    );
    return { id, ledgerId: rootLedgerId, code, isSystem: true, normalBalance: 'CREDIT', floor: null };
  };
  return { issuance: await make('system:issuance'), redemption: await make('system:redemption'), expiry: await make('system:expiry'), adjustment: await make('system:adjustment') };
}

async function createAsset(client: pg.PoolClient, rootLedgerId: string, code: string, kind: string, scale: number, expiresAfterDays: number | null): Promise<Asset> {
  const id = newId();
  await client.query(
    `INSERT INTO assets (id, root_ledger_id, ledger_id, code, name, kind, scale, expires_after_days) VALUES ($1, $2, $2, $3, $4, $5, $6, $7)`,
    [id, rootLedgerId, code, `${code} asset`, kind, scale, expiresAfterDays],
  );
  await audit(client, rootLedgerId, 'createAsset', [id]);
  return { id, code };
}

/** A customer account: credit-normal, no overdraft. */
async function createAccount(client: pg.PoolClient, rootLedgerId: string, ledgerId: string, code: string): Promise<ReleasedAccount> {
  const id = newId();
  await client.query(
    `INSERT INTO accounts (id, root_ledger_id, ledger_id, code, name, normal_balance, allow_overdraft, overdraft_limit, metadata)
     VALUES ($1, $2, $3, $4, $4, 'CREDIT', false, NULL, '{"tier": "gold"}')`,
    [id, rootLedgerId, ledgerId, code],
  );
  await audit(client, rootLedgerId, 'createAccount', [id]);
  return { id, ledgerId, code, isSystem: false, normalBalance: 'CREDIT', floor: 0n };
}

/**
 * The balance changes of a posting, one per (account, asset), sorted as the release locks them. Pending
 * amounts stay on shard 0, so a settlement finds them where the hold put them.
 */
function deltasOf(lines: Line[], pending: boolean, systemShard: number): Delta[] {
  const deltas = new Map<string, Delta>();
  for (const { account, asset, direction, amount } of lines) {
    const key = `${account.id}/${asset.id}`;
    const delta = deltas.get(key) ?? {
      accountId: account.id,
      assetId: asset.id,
      shard: account.isSystem && account.floor === null && !pending ? systemShard : 0,
      ledgerId: account.ledgerId,
      normalBalance: account.normalBalance,
      floor: account.floor,
      debitsPosted: 0n,
      creditsPosted: 0n,
      debitsPending: 0n,
      creditsPending: 0n,
    };
    const column = `${direction === 'DEBIT' ? 'debits' : 'credits'}${pending ? 'Pending' : 'Posted'}` as const;
    delta[column] += amount;
    deltas.set(key, delta);
  }
  return [...deltas.values()].sort((a, b) => compare(a.accountId, b.accountId) || compare(a.assetId, b.assetId));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The customer accounts among the lines, sorted: what the posting functions share-lock. */
function customerAccountIds(lines: Line[]): string[] {
  return [...new Set(lines.filter((entry) => !entry.account.isSystem).map((entry) => entry.account.id))].sort();
}

function deltaArguments(deltas: Delta[]) {
  return {
    d_account_ids: deltas.map((delta) => delta.accountId),
    d_asset_ids: deltas.map((delta) => delta.assetId),
    d_shards: deltas.map((delta) => delta.shard),
    d_ledger_ids: deltas.map((delta) => delta.ledgerId),
    d_normal_balances: deltas.map((delta) => delta.normalBalance),
    d_available_floors: deltas.map((delta) => delta.floor?.toString() ?? null),
    d_debits_posted: deltas.map((delta) => delta.debitsPosted.toString()),
    d_credits_posted: deltas.map((delta) => delta.creditsPosted.toString()),
    d_debits_pending: deltas.map((delta) => delta.debitsPending.toString()),
    d_credits_pending: deltas.map((delta) => delta.creditsPending.toString()),
  };
}

function entryArguments(lines: Line[]) {
  return {
    e_ids: lines.map(() => newId()),
    e_account_ids: lines.map((entry) => entry.account.id),
    e_ledger_ids: lines.map((entry) => entry.account.ledgerId),
    e_asset_ids: lines.map((entry) => entry.asset.id),
    e_directions: lines.map((entry) => entry.direction),
    e_amounts: lines.map((entry) => entry.amount.toString()),
  };
}

/** Calls a posting function by parameter name, so each value says which of its many parameters it is. */
async function callByName(client: pg.PoolClient, fn: 'apply_posting' | 'apply_postings', args: Record<string, unknown>): Promise<Array<{ o_outcome: string }>> {
  const names = Object.keys(args);
  const { rows } = await client.query<{ o_outcome: string }>(
    `SELECT o_outcome FROM ${fn}(${names.map((name, index) => `${name} => $${index + 1}`).join(', ')})`,
    Object.values(args),
  );
  return rows;
}

/** One posting through the release's apply_posting; returns its effective time. */
async function postOne(client: pg.PoolClient, rootLedgerId: string, transactionId: string, posting: Posting): Promise<Date> {
  const now = new Date();
  const rows = await callByName(client, 'apply_posting', {
    p_root_ledger_id: rootLedgerId,
    p_account_ids: customerAccountIds(posting.lines),
    p_require_active: true,
    p_transaction_id: transactionId,
    p_ledger_id: posting.ledgerId,
    p_kind: posting.kind,
    p_status: posting.hold ? 'PENDING' : 'POSTED',
    p_idempotency_key: posting.idempotencyKey,
    p_request_hash: requestFingerprint(posting.request),
    p_description: posting.description ?? null,
    p_metadata: '{}',
    p_effective_at: now,
    p_posted_at: now,
    p_reversal_of_id: posting.reversalOfId ?? null,
    p_is_hold: posting.hold !== undefined,
    p_timeout_at: posting.hold?.timeoutAt ?? null,
    ...deltaArguments(deltasOf(posting.lines, posting.hold !== undefined, posting.systemShard)),
    ...entryArguments(posting.lines),
    a_id: newId(),
    a_actor_type: ADMIN.actorType,
    a_actor_id: ADMIN.actorId,
    a_operation: posting.operation,
    a_target_ids: [transactionId],
    a_request_id: newId(),
    a_client_address: ADMIN.clientAddress,
    p_checkpoints_from: null,
  });
  if (rows[0]?.o_outcome !== 'APPLIED') throw new Error(`apply_posting did not apply ${posting.idempotencyKey}: ${JSON.stringify(rows)}`);
  return now;
}

/** An atomic batch through the release's apply_postings: every item applied in one statement. */
async function postBatch(client: pg.PoolClient, rootLedgerId: string, items: Array<{ id: string; posting: Posting }>): Promise<void> {
  const now = new Date();
  const changes = items.flatMap(({ posting }, index) => deltasOf(posting.lines, false, posting.systemShard).map((delta) => ({ item: index + 1, delta })));
  const lines = items.flatMap(({ posting }, index) => posting.lines.map((entry) => ({ item: index + 1, entry })));
  const rows = await callByName(client, 'apply_postings', {
    p_root_ledger_id: rootLedgerId,
    p_account_ids: customerAccountIds(items.flatMap(({ posting }) => posting.lines)),
    t_ids: items.map(({ id }) => id),
    t_ledger_ids: items.map(({ posting }) => posting.ledgerId),
    t_kinds: items.map(({ posting }) => posting.kind),
    t_statuses: items.map(() => 'POSTED'),
    t_idempotency_keys: items.map(({ posting }) => posting.idempotencyKey),
    t_request_hashes: items.map(({ posting }) => requestFingerprint(posting.request)),
    t_descriptions: items.map(() => null),
    t_metadata: items.map(() => '{}'),
    t_effective_at: items.map(() => now),
    t_posted_at: items.map(() => now),
    t_is_hold: items.map(() => false),
    t_timeout_at: items.map(() => null),
    t_checkpoints_from: items.map(() => null),
    t_audit_ids: items.map(() => newId()),
    a_actor_type: ADMIN.actorType,
    a_actor_id: ADMIN.actorId,
    // The release audits each item under the operation its client called.
    a_operation: 'postTransaction',
    a_request_id: newId(),
    a_client_address: ADMIN.clientAddress,
    d_items: changes.map(({ item }) => item),
    ...deltaArguments(changes.map(({ delta }) => delta)),
    e_items: lines.map(({ item }) => item),
    ...entryArguments(lines.map(({ entry }) => entry)),
  });
  if (rows.length === 0 || rows.some((row) => row.o_outcome !== 'APPLIED')) throw new Error(`apply_postings did not apply the batch: ${JSON.stringify(rows)}`);
}

/**
 * Releases a hold as the release's voidPendingTransaction does, in one database transaction: the settlement
 * row claims the hold and moves it to VOIDED, then apply_posting (with no transaction of its own) gives the
 * pending amounts back.
 */
async function voidHold(client: pg.PoolClient, rootLedgerId: string, holdId: string, held: Line[]): Promise<void> {
  const idempotencyKey = `${holdId}-void`;
  await inTransaction(client, async () => {
    await client.query(
      `WITH claim AS (
         INSERT INTO hold_settlements (root_ledger_id, pending_transaction_id, action, idempotency_key, request_hash, settlement_transaction_id, captured_amount)
         VALUES ($1, $2, 'VOID', $3, $4, NULL, NULL)
         RETURNING 1
       )
       UPDATE transactions SET status = 'VOIDED', posted_at = now()
        WHERE root_ledger_id = $1 AND id = $2 AND status = 'PENDING' AND EXISTS (SELECT 1 FROM claim)`,
      [rootLedgerId, holdId, idempotencyKey, requestFingerprint({ operation: 'voidPendingTransaction', holdId, amount: null })],
    );
    const release = deltasOf(held, true, 0).map((delta) => ({ ...delta, debitsPending: -delta.debitsPending, creditsPending: -delta.creditsPending }));
    const rows = await callByName(client, 'apply_posting', {
      p_root_ledger_id: rootLedgerId,
      p_account_ids: customerAccountIds(held),
      p_require_active: false,
      p_transaction_id: null,
      p_ledger_id: null,
      p_kind: null,
      p_status: null,
      p_idempotency_key: null,
      p_request_hash: null,
      p_description: null,
      p_metadata: null,
      p_effective_at: null,
      p_posted_at: null,
      p_reversal_of_id: null,
      p_is_hold: false,
      p_timeout_at: null,
      ...deltaArguments(release),
      ...entryArguments([]),
      a_id: newId(),
      a_actor_type: ADMIN.actorType,
      a_actor_id: ADMIN.actorId,
      a_operation: 'voidPendingTransaction',
      a_target_ids: [holdId],
      a_request_id: newId(),
      a_client_address: ADMIN.clientAddress,
      p_checkpoints_from: null,
    });
    if (rows[0]?.o_outcome !== 'APPLIED') throw new Error(`apply_posting did not release hold ${holdId}: ${JSON.stringify(rows)}`);
  });
}

async function openLot(client: pg.PoolClient, rootLedgerId: string, transactionId: string, account: ReleasedAccount, asset: Asset, amount: bigint, expiresAt: Date): Promise<void> {
  await client.query(
    `INSERT INTO lots (id, root_ledger_id, account_id, asset_id, source_transaction_id, amount, remaining, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)`,
    [newId(), rootLedgerId, account.id, asset.id, transactionId, amount.toString(), expiresAt],
  );
}

async function lotOf(client: pg.PoolClient, account: ReleasedAccount, sourceTransactionId: string): Promise<string> {
  const { rows } = await client.query<{ id: string }>('SELECT id FROM lots WHERE account_id = $1 AND source_transaction_id = $2', [account.id, sourceTransactionId]);
  if (rows.length !== 1) throw new Error(`expected one lot of ${account.code} from ${sourceTransactionId}, found ${rows.length}`);
  return rows[0]!.id;
}

/** Takes from (positive) or gives back to (negative) lots, recording each movement against the transaction. */
async function consumeLots(client: pg.PoolClient, rootLedgerId: string, transactionId: string, consumptions: Array<{ lotId: string; amount: bigint }>): Promise<void> {
  for (const { lotId, amount } of consumptions) {
    await client.query('UPDATE lots SET remaining = remaining - $3 WHERE root_ledger_id = $1 AND id = $2', [rootLedgerId, lotId, amount.toString()]);
    await client.query('INSERT INTO lot_consumptions (id, root_ledger_id, lot_id, transaction_id, amount) VALUES ($1, $2, $3, $4, $5)', [
      newId(),
      rootLedgerId,
      lotId,
      transactionId,
      amount.toString(),
    ]);
  }
}

/**
 * The release's request digest: sha256 of canonical JSON (object keys sorted, bigints and dates as strings).
 * Kept here as that release computed it, not imported, so that a server which stopped recognising the
 * digests stored by the release (and so answered old idempotency keys as conflicts) fails the upgrade test.
 */
function requestFingerprint(request: unknown): string {
  return createHash('sha256').update(canonicalJson(request)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (typeof value === 'bigint') return JSON.stringify(value.toString());
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const fields = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => compare(a, b));
    return `{${fields.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}
