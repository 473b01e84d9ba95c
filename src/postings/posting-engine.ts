import type pg from 'pg';
import type { Database } from '../platform/db.js';
import {
  AlreadyReversedError,
  BadInputError,
  DomainError,
  NotFoundError,
  IdempotencyConflictError,
  TransactionNotPendingError,
} from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { inOneStatement, inTransaction } from '../platform/transaction.js';
import { requirePostingReach } from '../authorization/access.core.js';
import { auditEvent, type AuditEventRow, type RequestOrigin } from '../audit/audit.js';
import type { Asset } from '../assets/asset.types.js';
import type { AssetService } from '../assets/asset.service.js';
import type { LedgerEvents } from '../events/ledger-events.js';
import { applyLotEffects } from '../lots/lot-effects.js';
import { CHECKPOINT_SETTLE_MS } from '../balances/balances.core.js';
import { Entry, Transaction, TransactionKind, TransactionStatus } from '../transactions/transaction.types.js';
import type { TransactionService } from '../transactions/transaction.service.js';
import {
  captureEntries,
  checkDescription,
  checkEffectiveAt,
  checkEntryShape,
  checkHoldShape,
  checkIdempotencyKey,
  nameItem,
  planPosting,
  refusalError,
  requestFingerprint,
  settlementDeltas,
  type EntryRequest,
  type PlannedEntry,
  type Refusal,
} from './postings.core.js';
import {
  applyPostings,
  assignShards,
  claimSettlement,
  lockBalancesInOrder,
  type AppliedBalance,
  type ShardedDelta,
  type TransactionInsert,
} from './postings.repository.js';
import type { AccountFacts, AccountFactsCache } from './account-facts.js';

/** A posting request with its accounts resolved to ids: what the engine writes. */
export interface PostingCommand {
  operation: string;
  rootLedgerId: string;
  ledgerId: string;
  kind: TransactionKind;
  idempotencyKey: string;
  description: string | null;
  metadata: Record<string, unknown>;
  effectiveAt: Date | null;
  entries: EntryRequest[];
  reversalOfId: string | null;
  /** A hold: reserves value (pending columns) until captured, voided or timed out. */
  pending: boolean;
  timeoutSeconds: number | null;
  /** Expiry of new value credited to customers (issue's expiresAt); otherwise each asset's policy. */
  lotExpiresAt: Date | null;
  /** The request as the client phrased it; its digest tells a replay from a reused key. */
  request: unknown;
}

export interface PostingResult {
  transaction: Transaction;
  replayed: boolean;
  dryRun: boolean;
}

export type HoldAction = 'POST' | 'VOID' | 'TIMEOUT';

/** Counts what the engine did, for metrics: one call per posting attempt, and one per retry. */
export interface PostingObserver {
  posting(kind: string, outcome: string): void;
  retry(): void;
}

const unobserved: PostingObserver = { posting: () => undefined, retry: () => undefined };

/**
 * One posting planned and ready to write: everything but what only the locks can decide. Holds, their
 * settlements, reversals and expiry are all this one shape; only the plan differs.
 */
interface Prepared {
  rootLedgerId: string;
  idempotencyKey: string | null;
  reversalOfId: string | null;
  /** The transaction written, whose key is claimed; null for a hold's release, which writes none. */
  row: TransactionInsert | null;
  /** Refuse unless every customer account is ACTIVE; releasing a hold is allowed on any. */
  requireActive: boolean;
  assets: Map<string, Asset>;
  accounts: Map<string, AccountFacts>;
  deltas: ShardedDelta[];
  entries: Array<PlannedEntry & { id: string }>;
  audit: AuditEventRow;
  checkpointsFrom: Date | null;
  /** The changes lots follow; when no item of a unit has any, the unit is its one apply_postings statement. */
  lotDeltas: ShardedDelta[];
  lotExpiresAt: Date | null;
  /** A settlement: the hold it settles, and what a release answers with (the hold, voided, and its entries). */
  settles: { hold: Transaction; heldEntries: Entry[] } | null;
}

/** What one committed write changed: enough to answer the client and to announce it. */
interface Written {
  row: TransactionInsert;
  accounts: Map<string, AccountFacts>;
  deltas: ShardedDelta[];
  applied: AppliedBalance[];
  entries: Entry[];
}

/**
 * A unit of work: postings applied together in one database transaction, all or nothing. `items` is the
 * plan, or a step that decides it inside the transaction, after taking the locks it needs (null: nothing
 * to write). A unit that does not commit is a dry run: every check runs, every row is written, and the
 * transaction rolls back.
 */
interface Unit {
  items: Prepared[] | ((client: pg.PoolClient) => Promise<Prepared[] | null>);
  commit: boolean;
  /** Errors name their item ("transactions[i]: ..."), as an atomic batch's do. */
  itemsNamed: boolean;
}

/**
 * The one write path. Every posting, batch, hold settlement and expiry is a unit of prepared postings (pure
 * rules over cached account facts) applied by one apply_postings call per root ledger, which share-locks the
 * accounts, claims the idempotency keys, applies the balance changes under their floors and writes the
 * entries and the audit rows; lots follow in the same transaction. A unit with nothing else to do is that one
 * statement on its own. After the transaction ends, `run` answers replays and announces what was committed,
 * in one place.
 */
export class PostingEngine {
  constructor(
    private readonly db: Database,
    private readonly assets: AssetService,
    private readonly accountFacts: AccountFactsCache,
    private readonly transactions: TransactionService,
    private readonly attemptsMax: number,
    private readonly events: LedgerEvents,
    private readonly observer: PostingObserver = unobserved,
  ) {}

  /** Every public entry point reports its outcome (OK or the refusal's code) under a kind label. */
  private async observed<T>(kind: string, work: () => Promise<T>): Promise<T> {
    try {
      const result = await work();
      this.observer.posting(kind, 'OK');
      return result;
    } catch (error) {
      this.observer.posting(kind, error instanceof DomainError ? error.code : 'INTERNAL_SERVER_ERROR');
      throw error;
    }
  }

  post(origin: RequestOrigin, command: PostingCommand, dryRun = false): Promise<PostingResult> {
    return this.observed(dryRun ? 'DRY_RUN' : command.pending ? 'HOLD' : command.kind, async () => {
      const [result] = (await this.run({
        items: [await this.prepare(origin, command)],
        commit: !dryRun,
        itemsNamed: false,
      }))!;
      return result!;
    });
  }

  /**
   * A posting whose amounts can only be decided under a lock (expiry): `build` runs inside the database
   * transaction, locks what it must, and returns the command, or null when there is nothing to post.
   */
  async postDecidedWithin(
    origin: RequestOrigin,
    build: (client: pg.PoolClient) => Promise<PostingCommand | null>,
  ): Promise<PostingResult | null> {
    const results = await this.observed('EXPIRE', () =>
      this.run({
        items: async (client) => {
          const command = await build(client);
          return command === null ? null : [await this.prepare(origin, command, client)];
        },
        commit: true,
        itemsNamed: false,
      }),
    );
    return results?.[0] ?? null;
  }

  /**
   * Several postings. Atomic: one unit, all or nothing; the first failure fails the whole call, naming its
   * item. Otherwise each item is a unit of its own and commits or fails alone.
   */
  async postMany(
    origin: RequestOrigin,
    commands: PostingCommand[],
    atomic: boolean,
  ): Promise<Array<PostingResult | DomainError | Error>> {
    if (!atomic) {
      const results: Array<PostingResult | DomainError | Error> = new Array(commands.length);
      let next = 0;
      const worker = async () => {
        while (next < commands.length) {
          const index = next++;
          results[index] = await this.post(origin, commands[index]!).catch((error: Error) => error);
        }
      };
      await Promise.all(Array.from({ length: Math.min(NON_ATOMIC_CONCURRENCY, commands.length) }, worker));
      return results;
    }

    return this.observed('BATCH', async () => {
      const items = await Promise.all(
        commands.map((command, index) =>
          this.prepare(origin, command).catch((error) => Promise.reject(nameItem(error, index))),
        ),
      );
      return (await this.run({ items, commit: true, itemsNamed: true }))!;
    });
  }

  /**
   * Captures (POST, optionally partially) or releases (VOID, TIMEOUT) a hold, at most once. The hold's
   * reserved amounts leave the pending columns and a capture's posted transaction is written with them.
   */
  settle(
    origin: RequestOrigin,
    holdId: string,
    action: HoldAction,
    idempotencyKey: string | null,
    amount: bigint | null,
  ): Promise<PostingResult> {
    return this.observed(`HOLD_${action}`, () => this.settleOnce(origin, holdId, action, idempotencyKey, amount));
  }

  private async settleOnce(
    origin: RequestOrigin,
    holdId: string,
    action: HoldAction,
    idempotencyKey: string | null,
    amount: bigint | null,
  ): Promise<PostingResult> {
    if (idempotencyKey !== null) checkIdempotencyKey(idempotencyKey);
    const [hold] = await this.transactions.fetchByIds([holdId]);
    if (hold === undefined) throw new NotFoundError(`transaction ${holdId} does not exist`);
    if (!hold.isHold)
      throw new TransactionNotPendingError(
        `transaction ${holdId} is not a hold; only pending transactions can be posted or voided`,
      );
    const operation = action === 'POST' ? 'postPendingTransaction' : 'voidPendingTransaction';
    const requestHash = requestFingerprint({ operation, holdId, amount });
    // Settled already: a replay of that settlement, or too late; checked before the amount is judged.
    if (hold.status !== TransactionStatus.PENDING) return this.replaySettlement(hold, idempotencyKey, requestHash);
    const heldEntries = await this.transactions.entriesOf([hold.id]);
    const assetCodes = await this.assetCodes(heldEntries);
    const toRequest = (entry: {
      accountId: string;
      assetId: string;
      direction: 'DEBIT' | 'CREDIT';
      amount: bigint;
    }): EntryRequest => ({
      accountId: entry.accountId,
      assetCode: assetCodes.get(entry.assetId)!,
      direction: entry.direction,
      amount: entry.amount,
    });
    const held = heldEntries.map(toRequest);
    const captured = action === 'POST' ? captureEntries(held, amount) : [];
    const now = new Date();
    const capture: TransactionInsert | null =
      action === 'POST'
        ? {
            id: newId(),
            rootLedgerId: hold.rootLedgerId,
            ledgerId: hold.ledgerId,
            kind: hold.kind,
            status: TransactionStatus.POSTED,
            idempotencyKey: idempotencyKey!,
            requestHash,
            description: hold.description,
            metadata: hold.metadata,
            effectiveAt: now,
            postedAt: now,
            reversalOfId: null,
            isHold: false,
            timeoutAt: null,
          }
        : null;
    const assets = await this.assets.requireByCodes(hold.rootLedgerId, [
      ...new Set(held.map((entry) => entry.assetCode)),
    ]);
    const accounts = await this.reachableAccounts(origin, held);
    const release = planPosting({ rootLedgerId: hold.rootLedgerId, entries: held, accounts, assets, pending: true });
    const posting = capture
      ? planPosting({ rootLedgerId: hold.rootLedgerId, entries: captured, accounts, assets })
      : null;
    const deltas = assignShards(settlementDeltas(release.deltas, posting?.deltas ?? []));
    const settlement: Prepared = {
      rootLedgerId: hold.rootLedgerId,
      idempotencyKey,
      reversalOfId: null,
      row: capture,
      // Releasing is allowed on a frozen or closed account; capturing moves value, so it is not.
      requireActive: capture !== null,
      assets,
      accounts,
      deltas,
      entries: withIds(posting?.entries ?? []),
      audit: auditEvent(origin, operation, hold.rootLedgerId, [hold.id, ...(capture ? [capture.id] : [])]),
      checkpointsFrom: null,
      lotDeltas: capture ? lotDeltasOf(deltas, accounts, assets) : [],
      lotExpiresAt: null,
      settles: { hold, heldEntries },
    };

    const results = await this.run({
      items: async (client) => {
        const settled = await claimSettlement(client, {
          rootLedgerId: hold.rootLedgerId,
          holdId: hold.id,
          action,
          idempotencyKey,
          requestHash,
          settlementTransactionId: capture?.id ?? null,
          capturedAmount: action === 'POST' ? (captured[0]?.amount ?? null) : null,
        });
        return settled ? [settlement] : null;
      },
      commit: true,
      itemsNamed: false,
    });
    return results === null ? this.replaySettlement(hold, idempotencyKey, requestHash) : results[0]!;
  }

  /**
   * Runs a unit: as one autocommit statement when it is one apply_postings call with nothing else in its
   * transaction (the hot path), otherwise in a database transaction that commits, or rolls back for a dry
   * run. Then, and only then, the items whose key was taken are answered with their original, and what
   * was committed is announced. Null when the unit decided there was nothing to write.
   */
  private async run(unit: Unit): Promise<PostingResult[] | null> {
    const work = async (runner: pg.Pool | pg.PoolClient) => {
      const items = Array.isArray(unit.items) ? unit.items : await unit.items(runner as pg.PoolClient);
      return items === null ? null : { items, written: await this.apply(runner, items, unit.itemsNamed) };
    };
    const alone =
      unit.commit &&
      Array.isArray(unit.items) &&
      rootRuns(unit.items).length <= 1 &&
      unit.items.every((item) => item.lotDeltas.length === 0);
    const done = alone
      ? await inOneStatement(this.db.pool, this.attemptsMax, work, () => this.observer.retry())
      : await inTransaction(this.db.pool, this.attemptsMax, work, () => this.observer.retry(), unit.commit);
    if (done === null) return null;

    const results: PostingResult[] = [];
    for (const [index, item] of done.items.entries()) {
      const written = done.written[index];
      if (written === null) {
        results.push({ ...(await this.replay(item)), dryRun: !unit.commit });
        continue;
      }
      if (unit.commit) this.announce(written);
      results.push({ transaction: toTransaction(written), replayed: false, dryRun: !unit.commit });
    }
    return results;
  }

  /**
   * Applies a unit's items in batch order: one apply_postings call per run of items in the same root ledger,
   * then each item's lots. Each item is written, or null when its key (or reversal) was already taken.
   */
  private async apply(
    runner: pg.Pool | pg.PoolClient,
    items: Prepared[],
    itemsNamed: boolean,
  ): Promise<Array<Written | null>> {
    const runs = rootRuns(items);
    if (runs.length > 1) {
      // Several calls lock their rows call by call; locking them all first, in one global order, keeps two
      // such units sharing rows from deadlocking halfway through.
      const touched = new Map<string, { rootLedgerId: string; accountId: string; assetId: string }>();
      for (const { rootLedgerId, deltas } of items) {
        for (const { accountId, assetId } of deltas)
          touched.set(`${rootLedgerId}/${accountId}/${assetId}`, { rootLedgerId, accountId, assetId });
      }
      await lockBalancesInOrder(runner as pg.PoolClient, [...touched.values()]);
    }
    const written: Array<Written | null> = [];
    for (const run of runs) {
      const outcome = await applyPostings(runner, {
        rootLedgerId: run[0]!.rootLedgerId,
        accounts: new Map(run.flatMap((item) => [...item.accounts])),
        items: run.map((item) => ({
          transaction: item.row,
          requireActive: item.requireActive,
          deltas: item.deltas,
          entries: item.entries,
          audit: item.audit,
          checkpointsFrom: item.checkpointsFrom,
        })),
      });
      if (outcome.refused !== null)
        throw this.refused(outcome.refused, items, written.length + outcome.refused.item, itemsNamed);
      for (const applied of outcome.items) {
        const index = written.length;
        const item = items[index]!;
        if (!applied.claimed && item.settles !== null) {
          // The hold is claimed, but its capture's key is another transaction's.
          throw this.refused(
            { item: index, code: 'KEY_REUSED', ids: [], accountStatus: null },
            items,
            index,
            itemsNamed,
          );
        }
        written.push(applied.claimed ? writtenOf(item, applied.balances) : null);
      }
    }
    for (const [index, item] of items.entries()) {
      const done = written[index];
      if (done === null || done === undefined || item.lotDeltas.length === 0) continue;
      try {
        await this.applyLots(runner as pg.PoolClient, item, done);
      } catch (error) {
        throw itemsNamed ? nameItem(error, index) : error;
      }
    }
    return written;
  }

  /** A refusal from the database as the domain error it is, naming its item in a batch. */
  private refused(refusal: Refusal, items: Prepared[], index: number, itemsNamed: boolean): DomainError {
    const item = items[index]!;
    const error = refusalError(refusal, {
      idempotencyKey: item.idempotencyKey,
      settlesHold: item.settles !== null,
      accounts: item.accounts,
    });
    return itemsNamed ? nameItem(error, index) : error;
  }

  /**
   * Shape rules, lookups (cached), scope and the plan: everything that needs no lock, done before the
   * write. `reader` is the caller's transaction client when it has one.
   */
  private async prepare(origin: RequestOrigin, command: PostingCommand, reader?: pg.PoolClient): Promise<Prepared> {
    checkIdempotencyKey(command.idempotencyKey);
    checkDescription(command.description);
    checkEntryShape(command.entries);
    checkHoldShape(command.pending, command.timeoutSeconds, command.reversalOfId !== null);
    const now = new Date();
    if (command.effectiveAt !== null) checkEffectiveAt(command.effectiveAt, now);
    const effectiveAt = command.effectiveAt ?? now;
    const assets = await this.assets.requireByCodes(
      command.rootLedgerId,
      command.entries.map((entry) => entry.assetCode),
    );
    if (command.lotExpiresAt !== null) {
      const undated = [...assets.values()].find((asset) => asset.expiresAfterDays === null);
      if (undated)
        throw new BadInputError(
          `asset ${undated.code} does not expire (it has no expiresAfterDays), so it takes no expiresAt`,
        );
      if (command.lotExpiresAt <= effectiveAt)
        throw new BadInputError('expiresAt must be after the moment the points are issued');
    }
    const accounts = await this.reachableAccounts(origin, command.entries, reader);
    const plan = planPosting({
      rootLedgerId: command.rootLedgerId,
      entries: command.entries,
      accounts,
      assets,
      pending: command.pending,
    });
    const deltas = assignShards(plan.deltas);
    const id = newId();
    // A backdated posting invalidates the point-in-time checkpoints of its accounts from its effective time on.
    const backdated =
      command.effectiveAt !== null && command.effectiveAt.getTime() < now.getTime() - CHECKPOINT_SETTLE_MS;
    return {
      rootLedgerId: command.rootLedgerId,
      idempotencyKey: command.idempotencyKey,
      reversalOfId: command.reversalOfId,
      requireActive: true,
      assets,
      accounts,
      deltas,
      entries: withIds(plan.entries),
      audit: auditEvent(origin, command.operation, command.rootLedgerId, [id]),
      checkpointsFrom: backdated ? command.effectiveAt : null,
      lotDeltas: command.pending ? [] : lotDeltasOf(deltas, accounts, assets),
      lotExpiresAt: command.lotExpiresAt,
      settles: null,
      row: {
        id,
        rootLedgerId: command.rootLedgerId,
        ledgerId: command.ledgerId,
        kind: command.kind,
        status: command.pending ? TransactionStatus.PENDING : TransactionStatus.POSTED,
        idempotencyKey: command.idempotencyKey,
        requestHash: requestFingerprint(command.request),
        description: command.description,
        metadata: command.metadata,
        effectiveAt,
        postedAt: now,
        reversalOfId: command.reversalOfId,
        isHold: command.pending,
        timeoutAt: command.timeoutSeconds === null ? null : new Date(now.getTime() + command.timeoutSeconds * 1000),
      },
    };
  }

  /**
   * The accounts' facts, after checking the caller may reach each customer account among them: the
   * engine's one authorization question, answered by authorization/ (requirePostingReach).
   */
  private async reachableAccounts(
    origin: RequestOrigin,
    entries: EntryRequest[],
    reader?: pg.PoolClient,
  ): Promise<Map<string, AccountFacts>> {
    const accounts = await this.accountFacts.get(
      entries.map((entry) => entry.accountId),
      reader,
    );
    requirePostingReach(origin.principal, accounts.values());
    return accounts;
  }

  /** Lots follow the posted changes of customer balances in expiring assets. */
  private async applyLots(client: pg.PoolClient, item: Prepared, written: Written): Promise<void> {
    const expiresAfterDays = new Map([...item.assets.values()].map((asset) => [asset.id, asset.expiresAfterDays]));
    const changes = item.lotDeltas.map((delta) => ({
      accountId: delta.accountId,
      assetId: delta.assetId,
      normalBalance: delta.normalBalance,
      delta,
      after: written.applied.find(
        (balance) => balance.accountId === delta.accountId && balance.assetId === delta.assetId,
      )!,
      expiresAfterDays: expiresAfterDays.get(delta.assetId)!,
      accountCode: item.accounts.get(delta.accountId)!.code,
    }));
    await applyLotEffects(client, {
      rootLedgerId: written.row.rootLedgerId,
      transactionId: written.row.id,
      effectiveAt: written.row.effectiveAt,
      lotExpiresAt: item.lotExpiresAt,
      reversalOfId: written.row.reversalOfId,
      changes,
    });
  }

  /** The key or the reversal was already taken: answer with the original, or say why not. */
  private async replay({
    rootLedgerId,
    idempotencyKey,
    reversalOfId,
    row,
  }: Prepared): Promise<Omit<PostingResult, 'dryRun'>> {
    const original = await this.transactions.findByIdempotencyKey(rootLedgerId, idempotencyKey!, this.db.pool);
    if (original === null) {
      if (reversalOfId !== null)
        throw new AlreadyReversedError(`transaction ${reversalOfId} has already been reversed`);
      throw new Error('a posting lost its idempotency claim to a transaction that cannot be found');
    }
    if (original.requestHash !== row!.requestHash) {
      throw new IdempotencyConflictError(
        `idempotencyKey ${idempotencyKey} was already used for a different request (transaction ${original.id})`,
      );
    }
    return { transaction: original, replayed: true };
  }

  private async replaySettlement(
    hold: Transaction,
    idempotencyKey: string | null,
    requestHash: string,
  ): Promise<PostingResult> {
    const settlement =
      idempotencyKey === null ? null : await this.transactions.findSettlementByKey(hold.rootLedgerId, idempotencyKey);
    if (settlement === null || settlement.holdId !== hold.id) {
      if (settlement !== null)
        throw new IdempotencyConflictError(`idempotencyKey ${idempotencyKey} was already used to settle another hold`);
      const [current] = await this.transactions.fetchByIds([hold.id]);
      throw new TransactionNotPendingError(`transaction ${hold.id} is ${current?.status ?? 'gone'}, not PENDING`);
    }
    if (settlement.requestHash !== requestHash) {
      throw new IdempotencyConflictError(
        `idempotencyKey ${idempotencyKey} was already used for a different settlement of this hold`,
      );
    }
    const [transaction] = await this.transactions.fetchByIds([settlement.settlementTransactionId ?? hold.id]);
    return { transaction: transaction!, replayed: true, dryRun: false };
  }

  private async assetCodes(entries: Array<{ assetId: string }>): Promise<Map<string, string>> {
    const assets = await this.assets.fetchByIds([...new Set(entries.map((entry) => entry.assetId))]);
    return new Map(assets.map((asset) => [asset.id, asset.code]));
  }

  private announce(written: Written): void {
    const { row } = written;
    this.events.committed({
      rootLedgerId: row.rootLedgerId,
      transactionId: row.id,
      ledgerId: row.ledgerId,
      accountLedgerIds: [...new Set([...written.accounts.values()].map((account) => account.ledgerId))],
      accountIds: [...written.accounts.keys()],
      status: row.status as 'PENDING' | 'POSTED' | 'VOIDED',
      balances: written.applied.map((balance) => {
        const delta = written.deltas.find(
          (candidate) => candidate.accountId === balance.accountId && candidate.assetId === balance.assetId,
        )!;
        return {
          ...balance,
          rootLedgerId: row.rootLedgerId,
          sharded: delta.shardable,
          normalBalance: delta.normalBalance,
        };
      }),
    });
  }
}

/** Items of a non-atomic batch run this many at a time. */
export const NON_ATOMIC_CONCURRENCY = 4;

/** A unit's items cut into runs of consecutive items in the same root ledger: one apply_postings call each. */
function rootRuns(items: Prepared[]): Prepared[][] {
  const runs: Prepared[][] = [];
  for (const item of items) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last[0]!.rootLedgerId === item.rootLedgerId) last.push(item);
    else runs.push([item]);
  }
  return runs;
}

/** A prepared posting as written, with the balance rows it left; a hold's release answers with the hold, voided. */
function writtenOf(item: Prepared, applied: AppliedBalance[]): Written {
  const { row, accounts, deltas, entries, settles } = item;
  if (row === null)
    return {
      row: { ...rowOf(settles!.hold), status: TransactionStatus.VOIDED },
      accounts,
      deltas,
      applied,
      entries: settles!.heldEntries,
    };
  return { row, accounts, deltas, applied, entries: toEntries(row, entries) };
}

/** Lots follow the posted changes of customer balances in expiring assets. */
function lotDeltasOf(
  deltas: ShardedDelta[],
  accounts: Map<string, AccountFacts>,
  assets: Map<string, Asset>,
): ShardedDelta[] {
  const expiring = new Set(
    [...assets.values()].filter((asset) => asset.expiresAfterDays !== null).map((asset) => asset.id),
  );
  return deltas.filter(
    (delta) =>
      expiring.has(delta.assetId) &&
      !accounts.get(delta.accountId)!.isSystem &&
      (delta.debitsPosted !== 0n || delta.creditsPosted !== 0n),
  );
}

function withIds(entries: PlannedEntry[]): Array<PlannedEntry & { id: string }> {
  return entries.map((entry) => ({ ...entry, id: newId() }));
}

function toEntries(row: TransactionInsert, entries: Array<PlannedEntry & { id: string }>): Entry[] {
  return entries.map((entry) =>
    Object.assign(new Entry(), {
      ...entry,
      rootLedgerId: row.rootLedgerId,
      transactionId: row.id,
      effectiveAt: row.effectiveAt,
      pending: row.isHold,
    }),
  );
}

function toTransaction(written: Written): Transaction {
  return Object.assign(new Transaction(), written.row, { draftEntries: written.entries });
}

function rowOf(transaction: Transaction): TransactionInsert {
  return {
    id: transaction.id,
    rootLedgerId: transaction.rootLedgerId,
    ledgerId: transaction.ledgerId,
    kind: transaction.kind,
    status: transaction.status,
    idempotencyKey: transaction.idempotencyKey,
    requestHash: transaction.requestHash,
    description: transaction.description,
    metadata: transaction.metadata,
    effectiveAt: transaction.effectiveAt,
    postedAt: new Date(),
    reversalOfId: transaction.reversalOfId,
    isHold: transaction.isHold,
    timeoutAt: transaction.timeoutAt,
  };
}
