import type { Database } from '../platform/db.js';
import { AlreadyReversedError, BadInputError, IdempotencyConflictError, InsufficientFundsError, NotFoundError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { inTransaction } from '../platform/transaction.js';
import { requireId } from '../platform/validation.js';
import { requireReach, requireRole } from '../auth/access.core.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import type { AssetService } from '../assets/asset.service.js';
import type { AccountService } from '../accounts/account.service.js';
import { ledgerPlacement, type LedgerService, type SystemAccountCode } from '../ledgers/ledger.service.js';
import { Transaction, TransactionKind, TransactionStatus, type Direction } from '../transactions/transaction.types.js';
import type { TransactionService } from '../transactions/transaction.service.js';
import type { LedgerEvents } from '../events/ledger-events.js';
import {
  checkDescription,
  checkEffectiveAt,
  checkEntryShape,
  checkIdempotencyKey,
  planPosting,
  requestFingerprint,
  reversingEntries,
  type EntryRequest,
} from './postings.core.js';
import { applyBalanceDeltas, assignShards, claimTransaction, insertEntriesAndAudit, readAccountsForPosting, type TransactionInsert } from './postings.repository.js';

export interface PostingResult {
  transaction: Transaction;
  replayed: boolean;
}

/** A posting request after its accounts are resolved to ids; what the engine writes. */
interface PostingCommand {
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
  /** The request as the client phrased it; its digest tells a replay from a reused key. */
  request: unknown;
}

export interface EntryInput {
  accountId?: string | null;
  accountCode?: string | null;
  asset: string;
  direction: Direction;
  amount: bigint;
}

export interface PostTransactionInput {
  ledgerId: string;
  idempotencyKey: string;
  kind?: TransactionKind | null;
  description?: string | null;
  metadata?: Record<string, unknown> | null;
  effectiveAt?: Date | null;
  entries: EntryInput[];
}

interface CommonInput {
  asset: string;
  amount: bigint;
  idempotencyKey: string;
  description?: string | null;
  metadata?: Record<string, unknown> | null;
}
export interface IssueInput extends CommonInput {
  accountId: string;
  expiresAt?: Date | null;
}
export interface RedeemInput extends CommonInput {
  accountId: string;
}
export interface TransferInput extends CommonInput {
  fromAccountId: string;
  toAccountId: string;
}
export interface AdjustInput {
  accountId: string;
  asset: string;
  amount: bigint;
  direction: Direction;
  idempotencyKey: string;
  reason: string;
}

// Kinds a client may name on postTransaction; the others are written only by their own operations.
const CLIENT_KINDS = new Set<TransactionKind>([TransactionKind.ISSUE, TransactionKind.REDEEM, TransactionKind.TRANSFER, TransactionKind.GENERIC, TransactionKind.ADJUST]);

export class PostingService {
  /** System account ids never change, so they are remembered per root ledger. */
  private readonly systemAccounts = new Map<string, Map<string, string>>();

  constructor(
    private readonly db: Database,
    private readonly ledgers: LedgerService,
    private readonly assets: AssetService,
    private readonly accounts: AccountService,
    private readonly transactions: TransactionService,
    private readonly attemptsMax: number,
    private readonly events: LedgerEvents,
  ) {}

  async postTransaction(origin: RequestOrigin, input: PostTransactionInput): Promise<PostingResult> {
    requireRole(origin.principal, 'OPERATOR', 'postTransaction');
    const kind = input.kind ?? TransactionKind.GENERIC;
    if (!CLIENT_KINDS.has(kind)) throw new BadInputError(`kind ${kind} is written only by its own operation (reverseTransaction, expiry)`);
    if (kind === TransactionKind.ADJUST) requireRole(origin.principal, 'ADMIN', 'an ADJUST transaction');
    const ledger = await this.ledgers.findById(requireId(input.ledgerId, 'ledgerId'));
    if (ledger === null) throw new NotFoundError(`ledger ${input.ledgerId} does not exist`);
    requireReach(origin.principal, ledgerPlacement(ledger), 'the ledger');

    const entries = await this.resolveEntries(ledger, input.entries);
    return this.post(origin, {
      operation: 'postTransaction',
      rootLedgerId: ledger.rootLedgerId,
      ledgerId: ledger.id,
      kind,
      idempotencyKey: input.idempotencyKey,
      description: input.description ?? null,
      metadata: input.metadata ?? {},
      effectiveAt: input.effectiveAt ?? null,
      entries,
      reversalOfId: null,
      request: { ...input, kind },
    });
  }

  async issue(origin: RequestOrigin, input: IssueInput): Promise<PostingResult> {
    requireRole(origin.principal, 'OPERATOR', 'issue');
    if (input.expiresAt != null) {
      throw new BadInputError('expiresAt needs expiring lots, which this server does not track yet; omit it');
    }
    return this.againstSystemAccount(origin, 'issue', TransactionKind.ISSUE, input, 'system:issuance', 'CREDIT', input.description ?? null);
  }

  async redeem(origin: RequestOrigin, input: RedeemInput): Promise<PostingResult> {
    requireRole(origin.principal, 'OPERATOR', 'redeem');
    return this.againstSystemAccount(origin, 'redeem', TransactionKind.REDEEM, input, 'system:redemption', 'DEBIT', input.description ?? null);
  }

  async adjust(origin: RequestOrigin, input: AdjustInput): Promise<PostingResult> {
    requireRole(origin.principal, 'ADMIN', 'adjust');
    checkDescription(input.reason, 'reason');
    if (input.reason.trim().length === 0) throw new BadInputError('reason must say why the adjustment is made');
    return this.againstSystemAccount(origin, 'adjust', TransactionKind.ADJUST, { ...input, metadata: null }, 'system:adjustment', input.direction, input.reason);
  }

  async transfer(origin: RequestOrigin, input: TransferInput): Promise<PostingResult> {
    requireRole(origin.principal, 'OPERATOR', 'transfer');
    const fromId = requireId(input.fromAccountId, 'fromAccountId');
    const toId = requireId(input.toAccountId, 'toAccountId');
    if (fromId === toId) throw new BadInputError('a transfer needs two different accounts');
    const from = await this.accounts.findById(fromId);
    if (from === null) throw new NotFoundError(`account ${fromId} does not exist`);
    return this.post(origin, {
      operation: 'transfer',
      rootLedgerId: from.rootLedgerId,
      ledgerId: from.ledgerId,
      kind: TransactionKind.TRANSFER,
      idempotencyKey: input.idempotencyKey,
      description: input.description ?? null,
      metadata: input.metadata ?? {},
      effectiveAt: null,
      entries: [
        { accountId: fromId, assetCode: input.asset, direction: 'DEBIT', amount: input.amount },
        { accountId: toId, assetCode: input.asset, direction: 'CREDIT', amount: input.amount },
      ],
      reversalOfId: null,
      request: { operation: 'transfer', ...input },
    });
  }

  async reverse(origin: RequestOrigin, id: string, idempotencyKey: string, reason: string | null | undefined): Promise<PostingResult> {
    requireRole(origin.principal, 'ADMIN', 'reverseTransaction');
    checkDescription(reason, 'reason');
    const [original] = await this.transactions.fetchByIds([requireId(id, 'id')]);
    if (original === undefined) throw new NotFoundError(`transaction ${id} does not exist`);
    if (original.kind === TransactionKind.REVERSAL) {
      throw new BadInputError('a reversal cannot itself be reversed; post a new transaction instead');
    }
    if (original.status !== TransactionStatus.POSTED) {
      throw new BadInputError(`only a POSTED transaction can be reversed; this one is ${original.status}`);
    }
    const entries = await this.transactions.entriesOf([original.id]);
    const assetCodes = new Map((await this.assets.fetchByIds([...new Set(entries.map((entry) => entry.assetId))])).map((asset) => [asset.id, asset.code]));
    return this.post(origin, {
      operation: 'reverseTransaction',
      rootLedgerId: original.rootLedgerId,
      ledgerId: original.ledgerId,
      kind: TransactionKind.REVERSAL,
      idempotencyKey,
      description: reason ?? `Reversal of ${original.id}`,
      metadata: {},
      effectiveAt: null,
      entries: reversingEntries(entries).map((entry) => ({
        accountId: entry.accountId,
        assetCode: assetCodes.get(entry.assetId)!,
        direction: entry.direction,
        amount: entry.amount,
      })),
      reversalOfId: original.id,
      request: { operation: 'reverseTransaction', id: original.id, reason: reason ?? null },
    });
  }

  /** issue / redeem / adjust: one customer account against one of its root's system accounts. */
  private async againstSystemAccount(
    origin: RequestOrigin,
    operation: string,
    kind: TransactionKind,
    input: CommonInput & { accountId: string },
    systemCode: SystemAccountCode,
    accountDirection: 'DEBIT' | 'CREDIT',
    description: string | null,
  ): Promise<PostingResult> {
    const account = await this.accounts.findById(requireId(input.accountId, 'accountId'));
    if (account === null) throw new NotFoundError(`account ${input.accountId} does not exist`);
    if (account.isSystem) throw new BadInputError(`${operation} needs a non-system account`);
    const systemAccountId = await this.systemAccountId(account.rootLedgerId, systemCode);
    const counterDirection = accountDirection === 'CREDIT' ? 'DEBIT' : 'CREDIT';
    return this.post(origin, {
      operation,
      rootLedgerId: account.rootLedgerId,
      ledgerId: account.ledgerId,
      kind,
      idempotencyKey: input.idempotencyKey,
      description,
      metadata: input.metadata ?? {},
      effectiveAt: null,
      entries: [
        { accountId: systemAccountId, assetCode: input.asset, direction: counterDirection, amount: input.amount },
        { accountId: account.id, assetCode: input.asset, direction: accountDirection, amount: input.amount },
      ],
      reversalOfId: null,
      request: { operation, ...input },
    });
  }

  /**
   * The one write path. Shape rules are checked before any I/O; then, in one database transaction:
   * read (and share-lock) the accounts, claim the idempotency key, apply the balance changes under
   * their constraints, and write entries plus audit row. Any failure rolls all of it back.
   */
  private async post(origin: RequestOrigin, command: PostingCommand): Promise<PostingResult> {
    checkIdempotencyKey(command.idempotencyKey);
    checkDescription(command.description);
    checkEntryShape(command.entries);
    const now = new Date();
    if (command.effectiveAt !== null) checkEffectiveAt(command.effectiveAt, now);
    const assets = await this.assets.requireByCodes(command.rootLedgerId, command.entries.map((entry) => entry.assetCode));
    const requestHash = requestFingerprint(command.request);
    const row: TransactionInsert = {
      id: newId(),
      rootLedgerId: command.rootLedgerId,
      ledgerId: command.ledgerId,
      kind: command.kind,
      status: TransactionStatus.POSTED,
      idempotencyKey: command.idempotencyKey,
      requestHash,
      description: command.description,
      metadata: command.metadata,
      effectiveAt: command.effectiveAt ?? now,
      postedAt: now,
      reversalOfId: command.reversalOfId,
    };

    const committed = await inTransaction(this.db.pool, this.attemptsMax, async (client) => {
      const accounts = await readAccountsForPosting(client, [...new Set(command.entries.map((entry) => entry.accountId))]);
      for (const account of accounts.values()) {
        if (!account.isSystem) requireReach(origin.principal, { rootLedgerId: account.rootLedgerId, ledgerPath: account.ledgerPath }, `account ${account.code}`);
      }
      let plan;
      try {
        plan = planPosting({ rootLedgerId: command.rootLedgerId, entries: command.entries, accounts, assets });
      } catch (error) {
        // A replay answers with the original even if, say, an account has been frozen since.
        if (await this.transactions.keyIsTaken(client, command.rootLedgerId, command.idempotencyKey)) return null;
        throw error;
      }
      const deltas = assignShards(plan.deltas);
      if (!(await claimTransaction(client, row, deltas))) return null;

      const applied = await applyBalanceDeltas(client, command.rootLedgerId, deltas);
      if (applied.length !== deltas.length) {
        const refused = deltas.filter((delta) => !applied.some((done) => done.accountId === delta.accountId && done.assetId === delta.assetId));
        throw insufficientFunds(refused.map((delta) => accounts.get(delta.accountId)!.code));
      }
      await insertEntriesAndAudit(client, row, plan.entries, auditEvent(origin, command.operation, command.rootLedgerId, [row.id]));
      return { deltas, applied, accounts };
    });

    if (committed !== null) {
      this.events.committed({
        rootLedgerId: row.rootLedgerId,
        transactionId: row.id,
        ledgerId: row.ledgerId,
        accountLedgerIds: [...new Set([...committed.accounts.values()].map((account) => account.ledgerId))],
        accountIds: [...committed.accounts.keys()],
        status: TransactionStatus.POSTED,
        balances: committed.applied.map((balance) => {
          const delta = committed.deltas.find((candidate) => candidate.accountId === balance.accountId && candidate.assetId === balance.assetId)!;
          return { ...balance, rootLedgerId: row.rootLedgerId, sharded: delta.shardable, normalBalance: delta.normalBalance };
        }),
      });
      return { transaction: Object.assign(new Transaction(), row), replayed: false };
    }
    return this.replay(command, requestHash);
  }

  /** The key or the reversal was already taken: answer with the original, or say why not. */
  private async replay(command: PostingCommand, requestHash: string): Promise<PostingResult> {
    const original = await this.transactions.findByIdempotencyKey(command.rootLedgerId, command.idempotencyKey);
    if (original === null) {
      if (command.reversalOfId !== null) throw new AlreadyReversedError(`transaction ${command.reversalOfId} has already been reversed`);
      throw new Error('a posting lost its idempotency claim to a transaction that cannot be found');
    }
    if (original.requestHash !== requestHash) {
      throw new IdempotencyConflictError(`idempotencyKey ${command.idempotencyKey} was already used for a different request (transaction ${original.id})`);
    }
    return { transaction: original, replayed: true };
  }

  private async resolveEntries(ledger: { id: string; rootLedgerId: string }, entries: EntryInput[]): Promise<EntryRequest[]> {
    const codes = entries.filter((entry) => entry.accountId == null && entry.accountCode != null).map((entry) => entry.accountCode!);
    const byCode = new Map<string, string>();
    for (const code of new Set(codes)) {
      // System accounts live in the root ledger; other codes name accounts of the posting's ledger.
      const holder = code.startsWith('system:') ? ledger.rootLedgerId : ledger.id;
      const account = await this.accounts.findByCode(ledger.rootLedgerId, holder, code);
      if (account === null) throw new NotFoundError(`no account with code ${code} in this ledger`);
      byCode.set(code, account.id);
    }
    return entries.map((entry, index) => {
      if ((entry.accountId == null) === (entry.accountCode == null)) {
        throw new BadInputError(`entry ${index}: give exactly one of accountId and accountCode`);
      }
      const accountId = entry.accountId != null ? requireId(entry.accountId, `entries[${index}].accountId`) : byCode.get(entry.accountCode!)!;
      return { accountId, assetCode: entry.asset, direction: entry.direction, amount: entry.amount };
    });
  }

  private async systemAccountId(rootLedgerId: string, code: SystemAccountCode): Promise<string> {
    let accounts = this.systemAccounts.get(rootLedgerId);
    if (accounts === undefined) {
      const rows = await this.db.prisma.account.findMany({ where: { rootLedgerId, ledgerId: rootLedgerId, isSystem: true }, select: { id: true, code: true } });
      accounts = new Map(rows.map((row) => [row.code, row.id]));
      this.systemAccounts.set(rootLedgerId, accounts);
    }
    const id = accounts.get(code);
    if (id === undefined) throw new Error(`root ledger ${rootLedgerId} has no ${code} account`);
    return id;
  }
}

function insufficientFunds(accountCodes: string[]): InsufficientFundsError {
  return new InsufficientFundsError(`insufficient funds: the posting would take ${[...new Set(accountCodes)].join(', ')} below its allowed balance`);
}
