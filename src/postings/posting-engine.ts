import type pg from 'pg';
import type { Database } from '../platform/db.js';
import {
  AlreadyReversedError,
  BadInputError,
  DomainError,
  InsufficientFundsError,
  NotFoundError,
  IdempotencyConflictError,
  TransactionNotPendingError,
} from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { inOneStatement, inTransaction } from '../platform/transaction.js';
import { requirePostingReach } from '../authorization/access.core.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
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
  requestFingerprint,
  settlementDeltas,
  type EntryRequest,
  type PlannedEntry,
} from './postings.core.js';
import {
  applyPosting,
  assignShards,
  claimSettlement,
  lockBalancesInOrder,
  type AppliedBalance,
  type PostingWrite,
  type ShardedDelta,
  type TransactionInsert,
} from './postings.repository.js';
import type { AccountFacts, AccountFactsCache } from './account-facts.js';
import { applyPostings } from './batch.repository.js';
import { explainShortfall } from './shortfall.js';
import { differingFields } from './idempotency.core.js';

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
  /** A reversal that may leave clawback debt where the value it takes back was already spent. */
  allowDebt?: boolean;
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

/** A posting planned and ready to write: everything but what only the locks can decide. */
interface Prepared {
  command: PostingCommand;
  row: TransactionInsert;
  assets: Map<string, Asset>;
  accounts: Map<string, AccountFacts>;
  deltas: ShardedDelta[];
  entries: Array<PlannedEntry & { id: string }>;
  /** The changes lots follow; when there are none the posting is its one apply_posting statement. */
  lotDeltas: ShardedDelta[];
}

/** What one committed write changed: enough to answer the client and to announce it. */
interface Written {
  row: TransactionInsert;
  accounts: Map<string, AccountFacts>;
  deltas: ShardedDelta[];
  applied: AppliedBalance[];
  entries: Entry[];
}

/** Thrown inside postWithin's database transaction when the key is taken, to roll back what its caller wrote. */
class KeyTaken extends Error {
  constructor() {
    super('idempotency key taken');
  }
}

/** Thrown inside a dry run's database transaction once every check has passed, to roll it all back. */
class DryRunComplete extends Error {
  constructor(readonly written: Written) {
    super('dry run');
  }
}

/**
 * The one write path. Every posting, batch item, hold settlement and expiry is planned here (pure rules
 * over cached account facts) and applied by one apply_posting statement, which share-locks the accounts,
 * claims the idempotency key, applies the balance changes under their floors and writes the entries and
 * the audit row. A plain posting is that one statement on its own; lots, batches, settlements and dry
 * runs wrap it in a database transaction. Announced after commit.
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

  /** A written transaction for the API, its root remembered so that later reads by its id name the root. */
  private toTransaction(written: Written): Transaction {
    this.db.roots.remember('transactions', written.row.id, written.row.rootLedgerId);
    return toTransaction(written);
  }

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

  private transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.db.pool, this.attemptsMax, work, () => this.observer.retry());
  }

  private oneStatement<T>(statement: (pool: pg.Pool) => Promise<T>): Promise<T> {
    return inOneStatement(this.db.pool, this.attemptsMax, statement, () => this.observer.retry());
  }

  post(origin: RequestOrigin, command: PostingCommand, dryRun = false): Promise<PostingResult> {
    return this.observed(dryRun ? 'DRY_RUN' : command.pending ? 'HOLD' : command.kind, () =>
      this.postOnce(origin, command, dryRun),
    );
  }

  private async postOnce(origin: RequestOrigin, command: PostingCommand, dryRun: boolean): Promise<PostingResult> {
    const prepared = await this.prepare(origin, command);
    // Explained once the posting's transaction is over, so the extra read never holds a second connection.
    return this.writePrepared(origin, prepared, dryRun).catch(async (error: unknown) => {
      if (!(error instanceof InsufficientFundsError)) throw error;
      const assetCodes = new Map([...prepared.assets.values()].map((asset) => [asset.id, asset.code]));
      throw await explainShortfall(this.db.pool, command.rootLedgerId, prepared.deltas, assetCodes, error);
    });
  }

  private async writePrepared(origin: RequestOrigin, prepared: Prepared, dryRun: boolean): Promise<PostingResult> {
    let written: Written | null;
    if (dryRun) {
      try {
        written = await this.transaction(async (client) => {
          const result = await this.write(client, origin, prepared);
          if (result !== null) throw new DryRunComplete(result);
          return result;
        });
      } catch (error) {
        if (error instanceof DryRunComplete)
          return { transaction: this.toTransaction(error.written), replayed: false, dryRun: true };
        throw error;
      }
    } else if (prepared.lotDeltas.length > 0) {
      written = await this.transaction((client) => this.write(client, origin, prepared));
    } else {
      written = await this.oneStatement((pool) => this.apply(pool, origin, prepared));
    }
    if (written === null) return { ...(await this.replay(this.db.pool, prepared)), dryRun };
    this.announce(written);
    return { transaction: this.toTransaction(written), replayed: false, dryRun: false };
  }

  /**
   * A posting whose amounts can only be decided under a lock (expiry): `build` runs inside the database
   * transaction, locks what it must, and returns the command, or null when there is nothing to post.
   */
  async postDecidedWithin(
    origin: RequestOrigin,
    build: (client: pg.PoolClient) => Promise<PostingCommand | null>,
  ): Promise<PostingResult | null> {
    const transaction = await this.observed('EXPIRE', () =>
      this.withPostings(origin, async (client, post) => {
        const command = await build(client);
        return command === null ? null : post(command);
      }),
    );
    return transaction === null ? null : { transaction, replayed: false, dryRun: false };
  }

  /**
   * Postings written inside a caller's own database transaction, together with the caller's other writes
   * (a reconciliation resolution and its audit row): `work` runs in the transaction and calls `post` for
   * each posting, which plans and applies it exactly as any other posting; everything commits or rolls back
   * together, and the postings are announced after the commit. A posting whose idempotency key is already
   * taken is refused with IDEMPOTENCY_CONFLICT: the caller's own lock is what makes its work happen once.
   */
  async withPostings<T>(
    origin: RequestOrigin,
    work: (client: pg.PoolClient, post: (command: PostingCommand) => Promise<Transaction>) => Promise<T>,
  ): Promise<T> {
    const { result, written } = await this.transaction(async (client) => {
      const done: Written[] = [];
      const result = await work(client, async (command) => {
        const posted = await this.write(client, origin, await this.prepare(origin, command, client));
        if (posted === null)
          throw new IdempotencyConflictError(`idempotencyKey ${command.idempotencyKey} was already used`);
        done.push(posted);
        return this.toTransaction(posted);
      });
      return { result, written: done };
    });
    for (const posted of written) this.announce(posted);
    return result;
  }

  /**
   * A posting that rests on rows its caller writes or locks in the same database transaction (a gift card
   * and its new account, a card's status checked under its row lock): `build` runs first inside the
   * transaction and returns the command, planned on the same client so that it sees those rows. When the
   * idempotency key is already taken, everything `build` wrote is rolled back and the original answers.
   */
  async postWithin(
    origin: RequestOrigin,
    kind: string,
    build: (client: pg.PoolClient) => Promise<PostingCommand>,
  ): Promise<PostingResult> {
    return this.observed(kind, async () => {
      let prepared: Prepared | undefined;
      let written: Written | null;
      try {
        written = await this.transaction(async (client) => {
          prepared = await this.prepare(origin, await build(client), client);
          const result = await this.write(client, origin, prepared);
          if (result === null) throw new KeyTaken();
          return result;
        });
      } catch (error) {
        if (error instanceof KeyTaken) written = null;
        else if (error instanceof InsufficientFundsError && prepared !== undefined) {
          const assetCodes = new Map([...prepared.assets.values()].map((asset) => [asset.id, asset.code]));
          throw await explainShortfall(this.db.pool, prepared.command.rootLedgerId, prepared.deltas, assetCodes, error);
        } else throw error;
      }
      if (written === null) return { ...(await this.replay(this.db.pool, prepared!)), dryRun: false };
      this.announce(written);
      return { transaction: this.toTransaction(written), replayed: false, dryRun: false };
    });
  }

  /**
   * Several postings. Atomic: one database transaction, all or nothing; the first failure fails the
   * whole call, naming its item. Otherwise each item commits or fails on its own.
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

    return this.observed('BATCH', () => this.postAtomically(origin, commands));
  }

  private async postAtomically(origin: RequestOrigin, commands: PostingCommand[]): Promise<PostingResult[]> {
    const prepared = await Promise.all(
      commands.map((command, index) =>
        this.prepare(origin, command).catch((error) => Promise.reject(nameItem(error, index))),
      ),
    );
    // Explained as for one posting, once the batch's transaction is over; the refused item's balance is
    // counted as the items before it would have left it.
    return this.writeAtomically(origin, prepared).catch(async (error: unknown) => {
      if (!(error instanceof InsufficientFundsError) || error.item === null) throw error;
      const item = prepared[error.item]!;
      const assetCodes = new Map([...item.assets.values()].map((asset) => [asset.id, asset.code]));
      const earlier = prepared
        .slice(0, error.item)
        .filter((other) => other.command.rootLedgerId === item.command.rootLedgerId)
        .flatMap((other) => other.deltas);
      const explained = await explainShortfall(
        this.db.pool,
        item.command.rootLedgerId,
        item.deltas,
        assetCodes,
        error,
        earlier,
      );
      explained.item = error.item;
      throw explained;
    });
  }

  private async writeAtomically(origin: RequestOrigin, prepared: Prepared[]): Promise<PostingResult[]> {
    if (
      prepared.length > 0 &&
      prepared.every(
        (item) =>
          item.command.rootLedgerId === prepared[0]!.command.rootLedgerId &&
          item.lotDeltas.length === 0 &&
          item.command.reversalOfId === null,
      )
    ) {
      return this.postBatchInOneStatement(origin, prepared);
    }
    const touched = new Map<string, { rootLedgerId: string; accountId: string; assetId: string }>();
    for (const { command, deltas } of prepared) {
      for (const { accountId, assetId } of deltas) {
        touched.set(`${command.rootLedgerId}/${accountId}/${assetId}`, {
          rootLedgerId: command.rootLedgerId,
          accountId,
          assetId,
        });
      }
    }
    const outcomes = await this.transaction(async (client) => {
      await lockBalancesInOrder(client, [...touched.values()]);
      const done: Array<Written | PostingResult> = [];
      for (const [index, item] of prepared.entries()) {
        try {
          const written = await this.write(client, origin, item);
          // A key taken earlier in this very batch is visible only on this client.
          done.push(written ?? { ...(await this.replay(client, item)), dryRun: false });
        } catch (error) {
          throw nameItem(error, index);
        }
      }
      return done;
    });
    return outcomes.map((outcome) => {
      if ('replayed' in outcome) return outcome;
      this.announce(outcome);
      return { transaction: this.toTransaction(outcome), replayed: false, dryRun: false };
    });
  }

  /** An atomic batch within one root ledger, with no lots to move: one apply_postings statement. */
  private async postBatchInOneStatement(origin: RequestOrigin, prepared: Prepared[]): Promise<PostingResult[]> {
    const rootLedgerId = prepared[0]!.command.rootLedgerId;
    const outcomes = await this.oneStatement((pool) =>
      applyPostings(pool, {
        rootLedgerId,
        accounts: new Map(prepared.flatMap((item) => [...item.accounts])),
        items: prepared.map((item) => ({
          transaction: item.row,
          deltas: item.deltas,
          entries: item.entries,
          audit: auditEvent(origin, item.command.operation, rootLedgerId, [item.row.id]),
          checkpointsFrom: checkpointsFrom(item),
        })),
      }),
    );
    const results: PostingResult[] = [];
    for (const [index, outcome] of outcomes.entries()) {
      const item = prepared[index]!;
      if (!outcome.claimed) {
        // The function has checked that the key was used for this same request: a replay.
        results.push({ ...(await this.replay(this.db.pool, item)), dryRun: false });
        continue;
      }
      const written = writtenOf(item, outcome.balances);
      this.announce(written);
      results.push({ transaction: this.toTransaction(written), replayed: false, dryRun: false });
    }
    return results;
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
    const requestHash = requestFingerprint({
      operation: action === 'POST' ? 'postPendingTransaction' : 'voidPendingTransaction',
      holdId,
      amount,
    });
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
    const entries = withIds(posting?.entries ?? []);
    const audit = auditEvent(
      origin,
      action === 'POST' ? 'postPendingTransaction' : 'voidPendingTransaction',
      hold.rootLedgerId,
      [hold.id, ...(capture ? [capture.id] : [])],
    );

    const written = await this.transaction(async (client) => {
      const settled = await claimSettlement(client, {
        rootLedgerId: hold.rootLedgerId,
        holdId: hold.id,
        action,
        idempotencyKey,
        requestHash,
        settlementTransactionId: capture?.id ?? null,
        capturedAmount: action === 'POST' ? (captured[0]?.amount ?? null) : null,
      });
      if (!settled) return null;
      // Releasing is allowed on a frozen or closed account; capturing moves value, so it is not.
      const outcome = await applyPosting(client, {
        rootLedgerId: hold.rootLedgerId,
        accounts,
        requireActive: capture !== null,
        transaction: capture,
        deltas,
        entries,
        audit,
        checkpointsFrom: null,
      });
      if (!outcome.claimed)
        throw new IdempotencyConflictError(`idempotencyKey ${idempotencyKey} was already used for another transaction`);
      if (!capture)
        return {
          row: { ...rowOf(hold), status: TransactionStatus.VOIDED },
          accounts,
          deltas,
          applied: outcome.balances,
          entries: heldEntries,
        };
      await this.applyLots(
        client,
        capture,
        null,
        lotDeltasOf(deltas, accounts, assets),
        outcome.balances,
        accounts,
        assets,
      );
      return { row: capture, accounts, deltas, applied: outcome.balances, entries: toEntries(capture, entries) };
    });

    if (written === null) return this.replaySettlement(hold, idempotencyKey, requestHash);
    this.announce(written);
    return { transaction: this.toTransaction(written), replayed: false, dryRun: false };
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
      const undated = [...assets.values()].find((asset) => asset.expiryPolicy === null);
      if (undated)
        throw new BadInputError(
          `asset ${undated.code} does not expire (it has no expiryPolicy), so it takes no expiresAt`,
        );
      const inactive = [...assets.values()].find((asset) => asset.expiryPolicy?.kind === 'INACTIVITY');
      if (inactive)
        throw new BadInputError(
          `asset ${inactive.code} lapses after inactivity, which moves every lot's expiry, so it takes no expiresAt`,
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
    return {
      command,
      assets,
      accounts,
      deltas,
      entries: withIds(plan.entries),
      lotDeltas: command.pending ? [] : lotDeltasOf(deltas, accounts, assets),
      row: {
        id: newId(),
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

  /** One posting, with its lots, inside the caller's database transaction; null when its idempotency key is already taken. */
  private async write(client: pg.PoolClient, origin: RequestOrigin, prepared: Prepared): Promise<Written | null> {
    const written = await this.apply(client, origin, prepared);
    if (written !== null && prepared.lotDeltas.length > 0) {
      await this.applyLots(
        client,
        prepared.row,
        prepared.command.lotExpiresAt,
        prepared.lotDeltas,
        written.applied,
        prepared.accounts,
        prepared.assets,
        prepared.command.allowDebt === true,
      );
    }
    return written;
  }

  /** The posting's apply_posting statement: on the pool, the whole posting as one transaction. */
  private async apply(
    runner: pg.Pool | pg.PoolClient,
    origin: RequestOrigin,
    prepared: Prepared,
  ): Promise<Written | null> {
    const { command, row, accounts, deltas, entries } = prepared;
    const write: PostingWrite = {
      rootLedgerId: command.rootLedgerId,
      accounts,
      requireActive: true,
      transaction: row,
      deltas,
      entries,
      audit: auditEvent(origin, command.operation, command.rootLedgerId, [row.id]),
      checkpointsFrom: checkpointsFrom(prepared),
      allowDebt: command.allowDebt === true && command.reversalOfId !== null,
    };
    const outcome = await applyPosting(runner, write);
    return outcome.claimed ? writtenOf(prepared, outcome.balances) : null;
  }

  /** The accounts' facts, after checking the caller may reach each customer account among them. */
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
  private async applyLots(
    client: pg.PoolClient,
    row: TransactionInsert,
    lotExpiresAt: Date | null,
    lotDeltas: ShardedDelta[],
    applied: AppliedBalance[],
    accounts: Map<string, AccountFacts>,
    assets: Map<string, Asset>,
    allowDebt = false,
  ): Promise<void> {
    if (lotDeltas.length === 0) return;
    const policies = new Map([...assets.values()].map((asset) => [asset.id, asset.expiryPolicy]));
    const changes = lotDeltas.map((delta) => ({
      accountId: delta.accountId,
      assetId: delta.assetId,
      normalBalance: delta.normalBalance,
      delta,
      after: applied.find((balance) => balance.accountId === delta.accountId && balance.assetId === delta.assetId)!,
      expiryPolicy: policies.get(delta.assetId)!,
      accountCode: accounts.get(delta.accountId)!.code,
    }));
    await applyLotEffects(client, {
      rootLedgerId: row.rootLedgerId,
      transactionId: row.id,
      effectiveAt: row.effectiveAt,
      lotExpiresAt,
      reversalOfId: row.reversalOfId,
      isActivity: row.reversalOfId === null && row.kind !== 'EXPIRE',
      allowDebt: allowDebt && row.reversalOfId !== null,
      changes,
    });
  }

  /** The key or the reversal was already taken: answer with the original, or say why not. */
  private async replay(
    reader: pg.Pool | pg.PoolClient,
    { command, row, entries }: Prepared,
  ): Promise<Omit<PostingResult, 'dryRun'>> {
    const original = await this.transactions.findByIdempotencyKey(command.rootLedgerId, command.idempotencyKey, reader);
    if (original === null) {
      if (command.reversalOfId !== null)
        throw new AlreadyReversedError(`transaction ${command.reversalOfId} has already been reversed`);
      throw new Error('a posting lost its idempotency claim to a transaction that cannot be found');
    }
    if (original.requestHash !== row.requestHash) {
      // One more read, on the conflict path only, so the client learns what it changed.
      const fields = differingFields(
        original,
        await this.transactions.entriesOf([original.id]),
        row,
        entries,
        command.effectiveAt !== null,
      );
      throw new IdempotencyConflictError(
        `idempotencyKey ${command.idempotencyKey} was already used for a different request (transaction ${original.id})${fields.length > 0 ? `; it differs in ${fields.join(', ')}` : ''}`,
        { transactionId: original.id, ...(fields.length > 0 ? { differingFields: fields } : {}) },
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

/** A prepared posting as written, with the balance rows it left. */
function writtenOf({ row, accounts, deltas, entries }: Prepared, applied: AppliedBalance[]): Written {
  return { row, accounts, deltas, applied, entries: toEntries(row, entries) };
}

/** A backdated posting invalidates the point-in-time checkpoints of its accounts from its effective time on. */
function checkpointsFrom({ command, row }: Prepared): Date | null {
  const backdated =
    command.effectiveAt !== null && command.effectiveAt.getTime() < row.postedAt.getTime() - CHECKPOINT_SETTLE_MS;
  return backdated ? command.effectiveAt : null;
}

/** Lots follow the posted changes of customer balances in expiring assets. */
function lotDeltasOf(
  deltas: ShardedDelta[],
  accounts: Map<string, AccountFacts>,
  assets: Map<string, Asset>,
): ShardedDelta[] {
  const expiring = new Set(
    [...assets.values()].filter((asset) => asset.expiryPolicy !== null).map((asset) => asset.id),
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

/** The API's view of a written transaction (the engine remembers its root first: PostingEngine.toTransaction). */
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
