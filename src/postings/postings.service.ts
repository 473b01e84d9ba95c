import { BadInputError, NotFoundError } from '../platform/errors.js';
import { requireId } from '../platform/validation.js';
import { authorize, requireReach } from '../authorization/access.core.js';
import type { RequestOrigin } from '../audit/audit.js';
import type { AccountService } from '../accounts/account.service.js';
import type { AssetService } from '../assets/asset.service.js';
import type { LedgerService, SystemAccountCode } from '../ledgers/ledger.service.js';
import { TransactionKind, TransactionStatus } from '../transactions/transaction.types.js';
import type { TransactionService } from '../transactions/transaction.service.js';
import type { Database } from '../platform/db.js';
import { checkDescription, reversingEntries, type Direction, type EntryRequest } from './postings.core.js';
import type { PostingCommand, PostingEngine, PostingResult } from './posting-engine.js';
import type { AccountFacts, AccountFactsCache } from './account-facts.js';
import { systemAccountsOf } from './postings.repository.js';

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
  pending?: boolean | null;
  timeoutSeconds?: number | null;
  dryRun?: boolean | null;
}

interface CommonInput {
  asset: string;
  amount: bigint;
  idempotencyKey: string;
  description?: string | null;
  metadata?: Record<string, unknown> | null;
  dryRun?: boolean | null;
}
export interface IssueInput extends CommonInput {
  accountId: string;
  expiresAt?: Date | null;
}
export interface RedeemInput extends CommonInput {
  accountId: string;
}
export interface HoldInput extends Omit<CommonInput, 'dryRun'> {
  accountId: string;
  timeoutSeconds?: number | null;
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

/** Most items one postTransactions call may carry. */
export const BATCH_ITEMS_MAX = 1000;

// Kinds a client may name on postTransaction; the others are written only by their own operations.
const CLIENT_KINDS = new Set<TransactionKind>([
  TransactionKind.ISSUE,
  TransactionKind.REDEEM,
  TransactionKind.TRANSFER,
  TransactionKind.GENERIC,
  TransactionKind.ADJUST,
]);

/** The public posting operations: each checks who may do it, builds a command and hands it to the engine. */
export class PostingService {
  /** System account ids never change, so they are remembered per root ledger. */
  private readonly systemAccounts = new Map<string, Map<string, string>>();

  constructor(
    private readonly db: Database,
    private readonly ledgers: LedgerService,
    private readonly assets: AssetService,
    private readonly accounts: AccountService,
    private readonly accountFacts: AccountFactsCache,
    private readonly transactions: TransactionService,
    private readonly engine: PostingEngine,
  ) {}

  async postTransaction(origin: RequestOrigin, input: PostTransactionInput): Promise<PostingResult> {
    return this.engine.post(origin, await this.postTransactionCommand(origin, input), input.dryRun ?? false);
  }

  async postTransactions(
    origin: RequestOrigin,
    inputs: PostTransactionInput[],
    atomic: boolean,
  ): Promise<Array<PostingResult | Error>> {
    authorize(origin.principal, 'postTransactions');
    if (inputs.length > BATCH_ITEMS_MAX)
      throw new BadInputError(`postTransactions takes at most ${BATCH_ITEMS_MAX} transactions; got ${inputs.length}`);
    if (inputs.some((input) => input.dryRun))
      throw new BadInputError('dryRun applies to single postings, not to items of postTransactions');
    const commands = await Promise.all(
      inputs.map((input) => this.postTransactionCommand(origin, input).catch((error: Error) => error)),
    );
    const failed = commands.findIndex((command) => command instanceof Error);
    if (atomic) {
      if (failed >= 0) {
        const error = commands[failed] as Error;
        error.message = `transactions[${failed}]: ${error.message}`;
        throw error;
      }
      return this.engine.postMany(origin, commands as PostingCommand[], true);
    }
    const runnable = commands.filter((command): command is PostingCommand => !(command instanceof Error));
    const results = await this.engine.postMany(origin, runnable, false);
    let next = 0;
    return commands.map((command) => (command instanceof Error ? command : results[next++]!));
  }

  async issue(origin: RequestOrigin, input: IssueInput): Promise<PostingResult> {
    authorize(origin.principal, 'issue');
    const command = await this.againstSystemAccount(
      'issue',
      TransactionKind.ISSUE,
      input,
      'system:issuance',
      'CREDIT',
      input.description ?? null,
    );
    return this.engine.post(origin, { ...command, lotExpiresAt: input.expiresAt ?? null }, input.dryRun ?? false);
  }

  async redeem(origin: RequestOrigin, input: RedeemInput): Promise<PostingResult> {
    authorize(origin.principal, 'redeem');
    const command = await this.againstSystemAccount(
      'redeem',
      TransactionKind.REDEEM,
      input,
      'system:redemption',
      'DEBIT',
      input.description ?? null,
    );
    return this.engine.post(origin, command, input.dryRun ?? false);
  }

  /** A pending REDEEM: reserves the amount until it is posted, voided or times out. */
  async hold(origin: RequestOrigin, input: HoldInput): Promise<PostingResult> {
    authorize(origin.principal, 'hold');
    const command = await this.againstSystemAccount(
      'hold',
      TransactionKind.REDEEM,
      input,
      'system:redemption',
      'DEBIT',
      input.description ?? null,
    );
    return this.engine.post(origin, { ...command, pending: true, timeoutSeconds: input.timeoutSeconds ?? null });
  }

  async postPending(
    origin: RequestOrigin,
    id: string,
    idempotencyKey: string,
    amount: bigint | null,
  ): Promise<PostingResult> {
    authorize(origin.principal, 'postPendingTransaction');
    return this.engine.settle(origin, requireId(id, 'id'), 'POST', idempotencyKey, amount);
  }

  async voidPending(origin: RequestOrigin, id: string, idempotencyKey: string): Promise<PostingResult> {
    authorize(origin.principal, 'voidPendingTransaction');
    return this.engine.settle(origin, requireId(id, 'id'), 'VOID', idempotencyKey, null);
  }

  async adjust(origin: RequestOrigin, input: AdjustInput): Promise<PostingResult> {
    authorize(origin.principal, 'adjust');
    checkDescription(input.reason, 'reason');
    if (input.reason.trim().length === 0) throw new BadInputError('reason must say why the adjustment is made');
    const command = await this.againstSystemAccount(
      'adjust',
      TransactionKind.ADJUST,
      { ...input, metadata: null },
      'system:adjustment',
      input.direction,
      input.reason,
    );
    return this.engine.post(origin, command);
  }

  /**
   * The command of an adjustment that another module posts in its own database transaction
   * (PostingEngine.withPostings): the same ADJUST against system:adjustment that `adjust` posts, under the
   * same role, with the caller's operation name and metadata.
   */
  async adjustmentCommand(
    origin: RequestOrigin,
    operation: string,
    input: AdjustInput & { metadata: Record<string, unknown> },
  ): Promise<PostingCommand> {
    authorize(origin.principal, 'adjust', operation);
    checkDescription(input.reason, 'reason');
    return this.againstSystemAccount(
      operation,
      TransactionKind.ADJUST,
      input,
      'system:adjustment',
      input.direction,
      input.reason,
    );
  }

  async transfer(origin: RequestOrigin, input: TransferInput): Promise<PostingResult> {
    authorize(origin.principal, 'transfer');
    const fromId = requireId(input.fromAccountId, 'fromAccountId');
    const toId = requireId(input.toAccountId, 'toAccountId');
    if (fromId === toId) throw new BadInputError('a transfer needs two different accounts');
    const from = await this.requireAccount(fromId);
    const request = requestOf(input);
    return this.engine.post(
      origin,
      this.command(
        'transfer',
        from,
        TransactionKind.TRANSFER,
        input,
        input.description ?? null,
        [
          { accountId: fromId, assetCode: input.asset, direction: 'DEBIT', amount: input.amount },
          { accountId: toId, assetCode: input.asset, direction: 'CREDIT', amount: input.amount },
        ],
        { operation: 'transfer', ...request },
      ),
      input.dryRun ?? false,
    );
  }

  async reverse(
    origin: RequestOrigin,
    id: string,
    idempotencyKey: string,
    reason: string | null | undefined,
    allowDebt = false,
  ): Promise<PostingResult> {
    authorize(origin.principal, 'reverseTransaction');
    checkDescription(reason, 'reason');
    const [original] = await this.transactions.fetchByIds([requireId(id, 'id')]);
    if (original === undefined) throw new NotFoundError(`transaction ${id} does not exist`);
    if (original.kind === TransactionKind.REVERSAL)
      throw new BadInputError('a reversal cannot itself be reversed; post a new transaction instead');
    if (original.kind === TransactionKind.EXPIRE)
      throw new BadInputError('expiry cannot be reversed; issue the points again if they should be restored');
    if (original.isHold)
      throw new BadInputError('a hold is not reversed: void it, or reverse the transaction that captured it');
    if (original.status !== TransactionStatus.POSTED)
      throw new BadInputError(`only a POSTED transaction can be reversed; this one is ${original.status}`);
    const entries = await this.transactions.entriesOf([original.id]);
    const assetCodes = new Map(
      (await this.assets.fetchByIds([...new Set(entries.map((entry) => entry.assetId))])).map((asset) => [
        asset.id,
        asset.code,
      ]),
    );
    return this.engine.post(origin, {
      ...baseCommand,
      operation: 'reverseTransaction',
      rootLedgerId: original.rootLedgerId,
      ledgerId: original.ledgerId,
      kind: TransactionKind.REVERSAL,
      idempotencyKey,
      description: reason ?? `Reversal of ${original.id}`,
      entries: reversingEntries(entries).map((entry) => ({
        accountId: entry.accountId,
        assetCode: assetCodes.get(entry.assetId)!,
        direction: entry.direction,
        amount: entry.amount,
      })),
      reversalOfId: original.id,
      allowDebt,
      // allowDebt joins the fingerprint only when set, so replays of earlier reversals keep their digest.
      request: {
        operation: 'reverseTransaction',
        id: original.id,
        reason: reason ?? null,
        ...(allowDebt ? { allowDebt } : {}),
      },
    });
  }

  private async postTransactionCommand(origin: RequestOrigin, input: PostTransactionInput): Promise<PostingCommand> {
    authorize(origin.principal, 'postTransaction');
    const kind = input.kind ?? TransactionKind.GENERIC;
    if (!CLIENT_KINDS.has(kind))
      throw new BadInputError(`kind ${kind} is written only by its own operation (reverseTransaction, expiry)`);
    if (kind === TransactionKind.ADJUST) authorize(origin.principal, 'adjust', 'an ADJUST transaction');
    const ledgerId = requireId(input.ledgerId, 'ledgerId');
    const placement = (await this.ledgers.placements([ledgerId])).get(ledgerId);
    if (placement === undefined) throw new NotFoundError(`ledger ${input.ledgerId} does not exist`);
    requireReach(origin.principal, placement, 'the ledger');
    const ledger = { id: ledgerId, rootLedgerId: placement.rootLedgerId };
    const request = requestOf(input);
    return {
      ...baseCommand,
      operation: 'postTransaction',
      rootLedgerId: ledger.rootLedgerId,
      ledgerId: ledger.id,
      kind,
      idempotencyKey: input.idempotencyKey,
      description: input.description ?? null,
      metadata: input.metadata ?? {},
      effectiveAt: input.effectiveAt ?? null,
      entries: await this.resolveEntries(ledger, input.entries),
      pending: input.pending ?? false,
      timeoutSeconds: input.timeoutSeconds ?? null,
      request: { ...request, kind, pending: input.pending ?? false },
    };
  }

  /** issue / redeem / hold / adjust: one customer account against one of its root's system accounts. */
  private async againstSystemAccount(
    operation: string,
    kind: TransactionKind,
    input: Omit<CommonInput, 'dryRun'> & { accountId: string; dryRun?: boolean | null },
    systemCode: SystemAccountCode,
    accountDirection: Direction,
    description: string | null,
  ): Promise<PostingCommand> {
    const account = await this.requireAccount(requireId(input.accountId, 'accountId'));
    if (account.isSystem) throw new BadInputError(`${operation} needs a non-system account`);
    const systemAccountId = await this.systemAccountId(account.rootLedgerId, systemCode);
    const counterDirection: Direction = accountDirection === 'CREDIT' ? 'DEBIT' : 'CREDIT';
    const request = requestOf(input);
    return this.command(
      operation,
      account,
      kind,
      input,
      description,
      [
        { accountId: systemAccountId, assetCode: input.asset, direction: counterDirection, amount: input.amount },
        { accountId: account.id, assetCode: input.asset, direction: accountDirection, amount: input.amount },
      ],
      { operation, ...request },
    );
  }

  private command(
    operation: string,
    account: Pick<AccountFacts, 'rootLedgerId' | 'ledgerId'>,
    kind: TransactionKind,
    input: { idempotencyKey: string; metadata?: Record<string, unknown> | null },
    description: string | null,
    entries: EntryRequest[],
    request: unknown,
  ): PostingCommand {
    return {
      ...baseCommand,
      operation,
      rootLedgerId: account.rootLedgerId,
      ledgerId: account.ledgerId,
      kind,
      idempotencyKey: input.idempotencyKey,
      description,
      metadata: input.metadata ?? {},
      entries,
      request,
    };
  }

  private async requireAccount(id: string): Promise<AccountFacts> {
    const account = (await this.accountFacts.get([id])).get(id);
    if (account === undefined) throw new NotFoundError(`account ${id} does not exist`);
    return account;
  }

  private async resolveEntries(
    ledger: { id: string; rootLedgerId: string },
    entries: EntryInput[],
  ): Promise<EntryRequest[]> {
    const codes = entries
      .filter((entry) => entry.accountId == null && entry.accountCode != null)
      .map((entry) => entry.accountCode!);
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
      const accountId =
        entry.accountId != null
          ? requireId(entry.accountId, `entries[${index}].accountId`)
          : byCode.get(entry.accountCode!)!;
      return { accountId, assetCode: entry.asset, direction: entry.direction, amount: entry.amount };
    });
  }

  async systemAccountId(rootLedgerId: string, code: SystemAccountCode): Promise<string> {
    let accounts = this.systemAccounts.get(rootLedgerId);
    if (accounts === undefined) {
      accounts = await systemAccountsOf(this.db, rootLedgerId);
      this.systemAccounts.set(rootLedgerId, accounts);
    }
    const id = accounts.get(code);
    if (id === undefined) throw new Error(`root ledger ${rootLedgerId} has no ${code} account`);
    return id;
  }
}

/**
 * The request a posting's fingerprint covers: everything the client sent but dryRun, so a dry run and the
 * posting it previews are the same request.
 */
function requestOf<T extends { dryRun?: boolean | null }>(input: T): Omit<T, 'dryRun'> {
  const request: Partial<T> = { ...input };
  delete request.dryRun;
  return request as Omit<T, 'dryRun'>;
}

/** The defaults every command starts from: a plain posted transaction with no lots policy override. */
const baseCommand = {
  description: null,
  metadata: {},
  effectiveAt: null,
  reversalOfId: null,
  pending: false,
  timeoutSeconds: null,
  lotExpiresAt: null,
} satisfies Partial<PostingCommand>;
