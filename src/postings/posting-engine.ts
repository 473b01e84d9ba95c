import type pg from 'pg';
import type { Database } from '../platform/db.js';
import {
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
  assignShards,
  type EntryRequest,
  type PlannedEntry,
  type ShardedDelta,
} from './postings.core.js';
import {
  claimSettlement,
  writePostings,
  type AppliedBalance,
  type Refusal,
  type TransactionInsert,
} from './postings.repository.js';
import type { AccountFacts, AccountFactsCache } from './account-facts.js';
import { explainShortfall } from './shortfall.js';
import { differingFields } from './idempotency.core.js';
import { refusalError } from './refusals.core.js';

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
  rootLedgerId: string;
  /** The audit event's operation. */
  operation: string;
  /** The request it was planned from, whose key and fields answer a replay; null for a hold's settlement. */
  command: PostingCommand | null;
  /** The transaction written; for a hold's release, which writes none, the hold as it is left (VOIDED). */
  row: TransactionInsert;
  release: { heldEntries: Entry[] } | null;
  /** Named in the audit event before the transaction: the hold a settlement settles. */
  auditSubject: string | null;
  assets: Map<string, Asset>;
  accounts: Map<string, AccountFacts>;
  deltas: ShardedDelta[];
  entries: Array<PlannedEntry & { id: string }>;
  /** The changes lots follow; when there are none the posting needs nothing but its write statement. */
  lotDeltas: ShardedDelta[];
  lotExpiresAt: Date | null;
  /** A reversal that may leave clawback debt. */
  allowDebt: boolean;
  checkpointsFrom: Date | null;
}

/** What one committed write changed: enough to answer the client and to announce it. */
interface Written {
  row: TransactionInsert;
  accounts: Map<string, AccountFacts>;
  deltas: ShardedDelta[];
  applied: AppliedBalance[];
  entries: Entry[];
}

/** How one item of a write came out: written, or a replay (the same request already holds its key). */
type ItemWritten = { written: Written } | { replayOf: Prepared };

/**
 * The unit of work a write runs in: its connection, the one way postings are written through it, and the
 * choice to roll back at the end instead of committing (a dry run; work that turned out to be a replay).
 */
interface WriteScope {
  client: pg.PoolClient;
  write(items: Prepared[], options?: { requireActive?: boolean }): Promise<ItemWritten[]>;
  discard(): void;
}

/**
 * An item refused by the database or failed on its lots, carried out of the transaction it aborts to the
 * one place that explains it (PostingEngine.explained).
 */
class ItemFailed extends Error {
  constructor(
    readonly item: Prepared,
    /** Its index in the write, and the changes of the items before it in its root (for a shortfall). */
    readonly index: number,
    readonly earlier: ShardedDelta[],
    readonly failure: Refusal | DomainError,
  ) {
    super(failure instanceof Error ? failure.message : failure.code);
  }
}

/**
 * The one write path. Every posting, batch, hold settlement, expiry, gift card and reconciliation
 * resolution is planned here (pure rules over cached account facts) and written by `writeItems`: one
 * write_postings statement per root ledger, which share-locks the accounts, claims the idempotency keys,
 * applies the balance changes under their floors and limits and writes the entries and audit rows, or
 * refuses with a row and writes nothing. Lots follow on the same connection. `transact` is the one
 * transaction shape: a write that is that one statement and nothing else runs as it, in autocommit;
 * anything more runs in one database transaction, which a dry run rolls back by design. What committed is
 * announced there, once; replays are answered by `replay`, and refusals explained by `explained`.
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

  post(origin: RequestOrigin, command: PostingCommand, dryRun = false): Promise<PostingResult> {
    return this.observed(dryRun ? 'DRY_RUN' : command.pending ? 'HOLD' : command.kind, async () => {
      const item = await this.prepare(origin, command);
      const [outcome] = await this.explained(
        false,
        this.transact(origin, dryRun ? 'TRANSACTION' : shapeOf([item]), async (scope) => {
          const outcomes = await scope.write([item]);
          if (dryRun) scope.discard();
          return outcomes;
        }),
      );
      return this.answer(outcome!, dryRun);
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
   * each posting, which plans and writes it exactly as any other posting; everything commits or rolls back
   * together, and the postings are announced after the commit. A posting whose idempotency key is already
   * taken is refused with IDEMPOTENCY_CONFLICT: the caller's own lock is what makes its work happen once.
   */
  withPostings<T>(
    origin: RequestOrigin,
    work: (client: pg.PoolClient, post: (command: PostingCommand) => Promise<Transaction>) => Promise<T>,
  ): Promise<T> {
    return this.explained(
      false,
      this.transact(origin, 'TRANSACTION', (scope) =>
        work(scope.client, async (command) => {
          const [outcome] = await scope.write([await this.prepare(origin, command, scope.client)]);
          if ('replayOf' in outcome!)
            throw new IdempotencyConflictError(`idempotencyKey ${command.idempotencyKey} was already used`);
          return this.toTransaction(outcome!.written);
        }),
      ),
    );
  }

  /**
   * A posting that rests on rows its caller writes or locks in the same database transaction (a gift card
   * and its new account, a card's status checked under its row lock): `build` runs first inside the
   * transaction and returns the command, planned on the same client so that it sees those rows. When the
   * same request already holds the idempotency key, everything `build` wrote is rolled back and the
   * original answers.
   */
  postWithin(
    origin: RequestOrigin,
    kind: string,
    build: (client: pg.PoolClient) => Promise<PostingCommand>,
  ): Promise<PostingResult> {
    return this.observed(kind, async () => {
      const [outcome] = await this.explained(
        false,
        this.transact(origin, 'TRANSACTION', async (scope) => {
          const item = await this.prepare(origin, await build(scope.client), scope.client);
          const outcomes = await scope.write([item]);
          if ('replayOf' in outcomes[0]!) scope.discard();
          return outcomes;
        }),
      );
      return this.answer(outcome!);
    });
  }

  /**
   * Several postings. Atomic: one write, all or nothing; the first failure fails the whole call, naming
   * its item. Otherwise each item commits or fails on its own.
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
      if (commands.length === 0) return [];
      const items = await Promise.all(
        commands.map((command, index) =>
          this.prepare(origin, command).catch((error) => Promise.reject(nameItem(error, index))),
        ),
      );
      const outcomes = await this.explained(
        true,
        this.transact(origin, shapeOf(items), (scope) => scope.write(items)),
      );
      return Promise.all(outcomes.map((outcome) => this.answer(outcome)));
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
    const item: Prepared = {
      rootLedgerId: hold.rootLedgerId,
      operation: action === 'POST' ? 'postPendingTransaction' : 'voidPendingTransaction',
      command: null,
      row: capture ?? { ...rowOf(hold), status: TransactionStatus.VOIDED },
      release: capture ? null : { heldEntries },
      auditSubject: hold.id,
      assets,
      accounts,
      deltas,
      entries: withIds(posting?.entries ?? []),
      lotDeltas: capture ? lotDeltasOf(deltas, accounts, assets) : [],
      lotExpiresAt: null,
      allowDebt: false,
      checkpointsFrom: null,
    };

    const outcome = await this.explained(
      false,
      this.transact(origin, 'TRANSACTION', async (scope) => {
        const settled = await claimSettlement(scope.client, {
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
        const [written] = await scope.write([item], { requireActive: capture !== null });
        if ('replayOf' in written!)
          throw new IdempotencyConflictError(
            `idempotencyKey ${idempotencyKey} was already used for another transaction`,
          );
        return written!;
      }),
    );
    return outcome === null ? this.replaySettlement(hold, idempotencyKey, requestHash) : this.answer(outcome);
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
    const backdated =
      command.effectiveAt !== null && command.effectiveAt.getTime() < now.getTime() - CHECKPOINT_SETTLE_MS;
    return {
      rootLedgerId: command.rootLedgerId,
      operation: command.operation,
      command,
      release: null,
      auditSubject: null,
      assets,
      accounts,
      deltas,
      entries: withIds(plan.entries),
      lotDeltas: command.pending ? [] : lotDeltasOf(deltas, accounts, assets),
      lotExpiresAt: command.lotExpiresAt,
      allowDebt: command.allowDebt === true && command.reversalOfId !== null,
      // A backdated posting invalidates the point-in-time checkpoints of its accounts from its effective time on.
      checkpointsFrom: backdated ? command.effectiveAt : null,
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

  /**
   * The one transaction shape. ONE_STATEMENT: the work is a single write_postings call (one root, no lots),
   * run in autocommit, which is its own database transaction. TRANSACTION: the work runs in one database
   * transaction, committed unless it discards itself. Either way, what it wrote is announced here once the
   * transaction has committed, and a lost race runs the work again from the start.
   */
  private async transact<T>(origin: RequestOrigin, shape: Shape, work: (scope: WriteScope) => Promise<T>): Promise<T> {
    let written: Written[] = [];
    let discarded = false;
    const attempt = (runner: pg.Pool | pg.PoolClient) => {
      written = [];
      discarded = false;
      return work({
        get client() {
          if (shape === 'ONE_STATEMENT') throw new Error('a one-statement write has no transaction client');
          return runner as pg.PoolClient;
        },
        write: async (items, options) => {
          const outcomes = await this.writeItems(runner, origin, items, options?.requireActive ?? true);
          for (const outcome of outcomes) if ('written' in outcome) written.push(outcome.written);
          return outcomes;
        },
        discard: () => {
          if (shape === 'ONE_STATEMENT') throw new Error('a one-statement write cannot be rolled back');
          discarded = true;
        },
      });
    };
    const result =
      shape === 'ONE_STATEMENT'
        ? await inOneStatement(this.db.pool, this.attemptsMax, attempt, () => this.observer.retry())
        : await inTransaction(
            this.db.pool,
            this.attemptsMax,
            attempt,
            () => this.observer.retry(),
            () => !discarded,
          );
    if (!discarded) for (const committed of written) this.announce(committed);
    return result;
  }

  /**
   * The write primitive: the items, of any root ledgers, as one write_postings statement per root in root
   * order (the global lock order), each followed by its items' lots on the same connection. A refusal, or a
   * lot rule that fails, throws ItemFailed, which aborts the transaction around it.
   */
  private async writeItems(
    runner: pg.Pool | pg.PoolClient,
    origin: RequestOrigin,
    items: Prepared[],
    requireActive: boolean,
  ): Promise<ItemWritten[]> {
    const outcomes: ItemWritten[] = new Array(items.length);
    for (const rootLedgerId of [...new Set(items.map((item) => item.rootLedgerId))].sort()) {
      let indexes = items.flatMap((item, index) => (item.rootLedgerId === rootLedgerId ? [index] : []));
      for (;;) {
        const batch = indexes.map((index) => items[index]!);
        const earlier = (position: number) => batch.slice(0, position).flatMap((item) => item.deltas);
        const written = await writePostings(runner, {
          rootLedgerId,
          accounts: new Map(batch.flatMap((item) => [...item.accounts])),
          requireActive,
          // Debt is a reversal's, and a reversal is posted on its own.
          allowDebt: batch.length === 1 && batch[0]!.allowDebt,
          actor: auditEvent(origin, batch[0]!.operation, rootLedgerId, []),
          items: batch.map((item) => ({
            transaction: item.release === null ? item.row : null,
            deltas: item.deltas,
            entries: item.entries,
            auditId: newId(),
            auditSubject: item.auditSubject,
            checkpointsFrom: item.checkpointsFrom,
          })),
        });
        if (written.kind === 'PARTLY_REPLAYED') {
          // Nothing was written: the replays are answered by their originals, the others written again.
          const replays = new Set(written.replays.map((position) => indexes[position]!));
          for (const index of replays) outcomes[index] = { replayOf: items[index]! };
          indexes = indexes.filter((index) => !replays.has(index));
          continue;
        }
        if (written.kind === 'REFUSED') {
          const { refusal } = written;
          throw new ItemFailed(batch[refusal.item]!, indexes[refusal.item]!, earlier(refusal.item), refusal);
        }
        for (const [position, result] of written.items.entries()) {
          const item = batch[position]!;
          if (!result.claimed) {
            outcomes[indexes[position]!] = { replayOf: item };
            continue;
          }
          if (item.lotDeltas.length > 0) {
            await this.applyLots(runner as pg.PoolClient, item, result.balances).catch((error: unknown) => {
              throw error instanceof DomainError
                ? new ItemFailed(item, indexes[position]!, earlier(position), error)
                : error;
            });
          }
          outcomes[indexes[position]!] = { written: writtenOf(item, result.balances) };
        }
        break;
      }
    }
    return outcomes;
  }

  /**
   * The one place a failed item becomes the client's error: a refusal mapped to the error catalog, a
   * shortfall completed with the balance it found (read once the transaction is over, so the extra read
   * never holds a second connection), a reused key with the fields the new request changed; in an atomic
   * batch, named by its item.
   */
  private async explained<T>(named: boolean, write: Promise<T>): Promise<T> {
    try {
      return await write;
    } catch (error) {
      if (!(error instanceof ItemFailed)) throw error;
      const { item, index, earlier, failure } = error;
      let explainedError = failure instanceof Error ? failure : await this.refusalErrorOf(item, failure);
      if (explainedError instanceof InsufficientFundsError) {
        const assetCodes = new Map([...item.assets.values()].map((asset) => [asset.id, asset.code]));
        explainedError = await explainShortfall(
          this.db.pool,
          item.rootLedgerId,
          item.deltas,
          assetCodes,
          explainedError,
          earlier,
        );
      }
      throw named ? nameItem(explainedError, index) : explainedError;
    }
  }

  private async refusalErrorOf(item: Prepared, refusal: Refusal): Promise<DomainError> {
    let changed: string[] | undefined;
    if (refusal.code === 'IDEMPOTENCY_CONFLICT' && item.command !== null && refusal.originalId !== null) {
      // One more read, on the conflict path only, so the client learns what it changed.
      const [original] = await this.transactions.fetchByIds([refusal.originalId]);
      if (original !== undefined)
        changed = differingFields(
          original,
          await this.transactions.entriesOf([original.id]),
          item.row,
          item.entries,
          item.command.effectiveAt !== null,
        );
    }
    return refusalError(refusal, {
      codeOf: (id) => item.accounts.get(id)?.code ?? id,
      idempotencyKey: item.row.idempotencyKey,
      reversalOfId: item.row.reversalOfId,
      differingFields: changed,
    });
  }

  /** A written item as the client sees it, or the original that the same request already wrote. */
  private async answer(outcome: ItemWritten, dryRun = false): Promise<PostingResult> {
    if ('replayOf' in outcome) return { ...(await this.replay(outcome.replayOf)), dryRun };
    return { transaction: this.toTransaction(outcome.written), replayed: false, dryRun };
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
  private async applyLots(client: pg.PoolClient, item: Prepared, applied: AppliedBalance[]): Promise<void> {
    const { row } = item;
    const policies = new Map([...item.assets.values()].map((asset) => [asset.id, asset.expiryPolicy]));
    const changes = item.lotDeltas.map((delta) => ({
      accountId: delta.accountId,
      assetId: delta.assetId,
      normalBalance: delta.normalBalance,
      delta,
      after: applied.find((balance) => balance.accountId === delta.accountId && balance.assetId === delta.assetId)!,
      expiryPolicy: policies.get(delta.assetId)!,
      accountCode: item.accounts.get(delta.accountId)!.code,
    }));
    await applyLotEffects(client, {
      rootLedgerId: row.rootLedgerId,
      transactionId: row.id,
      effectiveAt: row.effectiveAt,
      lotExpiresAt: item.lotExpiresAt,
      reversalOfId: row.reversalOfId,
      isActivity: row.reversalOfId === null && row.kind !== 'EXPIRE',
      allowDebt: item.allowDebt,
      changes,
    });
  }

  /**
   * The one replay path: the same request already holds the key (write_postings compared the requests), so
   * the original answers.
   */
  private async replay({ rootLedgerId, row }: Prepared): Promise<Omit<PostingResult, 'dryRun'>> {
    const original = await this.transactions.findByIdempotencyKey(rootLedgerId, row.idempotencyKey, this.db.pool);
    if (original === null) throw new Error(`the transaction holding idempotencyKey ${row.idempotencyKey} is gone`);
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

type Shape = 'ONE_STATEMENT' | 'TRANSACTION';

/** A write is its one statement when that statement is all it needs: one root ledger, and no lots to move. */
function shapeOf(items: Prepared[]): Shape {
  const rootLedgerId = items[0]?.rootLedgerId;
  return items.every((item) => item.rootLedgerId === rootLedgerId && item.lotDeltas.length === 0)
    ? 'ONE_STATEMENT'
    : 'TRANSACTION';
}

/** A prepared posting as written, with the balance rows it left; a release shows the hold's own entries. */
function writtenOf(item: Prepared, applied: AppliedBalance[]): Written {
  const { row, accounts, deltas } = item;
  const entries = item.release?.heldEntries ?? toEntries(row, item.entries);
  return { row, accounts, deltas, applied, entries };
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
