import type { Database } from '../platform/db.js';
import {
  BadInputError,
  ExchangeRateNotFoundError,
  IdempotencyConflictError,
  NotFoundError,
} from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { requireId } from '../platform/validation.js';
import { authorize, ledgerPlacement, requirePostingReach, requireReach } from '../authorization/access.core.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import { insertAuditEvent } from '../audit/audit.repository.js';
import type { Asset } from '../assets/asset.types.js';
import type { AssetService } from '../assets/asset.service.js';
import type { LedgerService } from '../ledgers/ledger.service.js';
import { TransactionKind, type Transaction } from '../transactions/transaction.types.js';
import type { TransactionService } from '../transactions/transaction.service.js';
import type { AccountFactsCache } from '../postings/account-facts.js';
import type { PostingEngine } from '../postings/posting-engine.js';
import { checkIdempotencyKey, requestFingerprint } from '../postings/postings.core.js';
import { systemAccountsOf } from '../postings/postings.repository.js';
import { convertedAmount, pinConversion, pinnedConversionOf, requireRate } from './conversion.core.js';
import {
  ensureConversionAccount,
  insertExchangeRate,
  selectRateHistory,
  selectRateInForce,
  type ExchangeRateRow,
} from './conversion.repository.js';

export interface SetExchangeRateInput {
  ledgerId: string;
  fromAsset: string;
  toAsset: string;
  numerator: bigint;
  denominator: bigint;
  validFrom?: Date | null;
}

export interface ConvertInput {
  accountId: string;
  fromAsset: string;
  toAsset: string;
  amount: bigint;
  idempotencyKey: string;
}

/** A rate with its assets, as the schema shows it. */
export interface ExchangeRateView {
  id: string;
  fromAsset: Asset;
  toAsset: Asset;
  numerator: bigint;
  denominator: bigint;
  validFrom: Date;
}

export interface ConversionResult {
  transaction: Transaction;
  replayed: boolean;
  rate: ExchangeRateView;
  debited: bigint;
  credited: bigint;
}

/** Most rates the history of one pair lists. */
export const RATE_HISTORY_MAX = 100;

/**
 * Exchange rates and conversions. A conversion is one posting through the engine: the account gives
 * `amount` of one asset to system:conversion and receives the converted amount of the other from it, so
 * every asset balances; the rate it used is pinned in the transaction's metadata.
 */
export class ConversionService {
  /** The conversion account of each root, which never changes once it exists. */
  private readonly conversionAccounts = new Map<string, string>();

  constructor(
    private readonly db: Database,
    private readonly ledgers: LedgerService,
    private readonly assets: AssetService,
    private readonly accountFacts: AccountFactsCache,
    private readonly transactions: TransactionService,
    private readonly engine: PostingEngine,
  ) {}

  async setExchangeRate(origin: RequestOrigin, input: SetExchangeRateInput): Promise<ExchangeRateView> {
    authorize(origin.principal, 'setExchangeRate');
    const ledger = await this.ledgers.findById(requireId(input.ledgerId, 'ledgerId'));
    if (ledger === null) throw new NotFoundError(`ledger ${input.ledgerId} does not exist`);
    requireReach(origin.principal, ledgerPlacement(ledger), 'the ledger');
    if (ledger.parentId !== null)
      throw new BadInputError(
        'exchange rates are set on a root ledger and apply throughout its tree; pass the root ledger id',
      );
    const rate = requireRate({ numerator: input.numerator, denominator: input.denominator });
    const [fromAsset, toAsset] = await this.assetPair(ledger.rootLedgerId, input.fromAsset, input.toAsset);
    const row: ExchangeRateRow = {
      id: newId(),
      rootLedgerId: ledger.rootLedgerId,
      ledgerId: ledger.id,
      fromAssetId: fromAsset.id,
      toAssetId: toAsset.id,
      ...rate,
      validFrom: input.validFrom ?? new Date(),
    };
    try {
      const created = await this.db.prisma.$transaction(async (tx) => {
        const inserted = await insertExchangeRate(tx, row);
        await insertAuditEvent(tx, auditEvent(origin, 'setExchangeRate', ledger.rootLedgerId, [inserted.id]));
        return inserted;
      });
      return viewOf(created, fromAsset, toAsset);
    } catch (error) {
      if ((error as { code?: string }).code === 'P2002')
        throw new BadInputError(
          `a rate from ${fromAsset.code} to ${toAsset.code} valid from ${row.validFrom.toISOString()} already exists; rates are never edited, set one with a later validFrom`,
        );
      throw error;
    }
  }

  /** A pair's rates, newest validFrom first (the history: rates are never edited or deleted). */
  async history(
    origin: RequestOrigin,
    ledgerId: string,
    fromCode: string,
    toCode: string,
  ): Promise<ExchangeRateView[]> {
    const ledger = await this.ledgers.findById(requireId(ledgerId, 'ledgerId'));
    if (ledger === null) throw new NotFoundError(`ledger ${ledgerId} does not exist`);
    requireReach(origin.principal, ledgerPlacement(ledger), 'the ledger');
    const [fromAsset, toAsset] = await this.assetPair(ledger.rootLedgerId, fromCode, toCode);
    const rows = await selectRateHistory(this.db.pool, ledger.rootLedgerId, fromAsset.id, toAsset.id, RATE_HISTORY_MAX);
    return rows.map((row) => viewOf(row, fromAsset, toAsset));
  }

  async convert(origin: RequestOrigin, input: ConvertInput): Promise<ConversionResult> {
    authorize(origin.principal, 'convert');
    const accountId = requireId(input.accountId, 'accountId');
    checkIdempotencyKey(input.idempotencyKey);
    if (input.amount <= 0n) throw new BadInputError('amount must be positive');
    const account = (await this.accountFacts.get([accountId])).get(accountId);
    if (account === undefined) throw new NotFoundError(`account ${accountId} does not exist`);
    if (account.isSystem) throw new BadInputError('convert needs a non-system account');
    requirePostingReach(origin.principal, [account]);
    const [fromAsset, toAsset] = await this.assetPair(account.rootLedgerId, input.fromAsset, input.toAsset);
    const request = {
      operation: 'convert',
      accountId,
      fromAsset: fromAsset.code,
      toAsset: toAsset.code,
      amount: input.amount,
      idempotencyKey: input.idempotencyKey,
    };

    // A replay answers with the original even when the rate has changed or gone since.
    const original = await this.transactions.findByIdempotencyKey(account.rootLedgerId, input.idempotencyKey);
    if (original !== null) return this.replayOf(original, requestFingerprint(request), input.idempotencyKey);

    const now = new Date();
    const rate = await selectRateInForce(this.db.pool, account.rootLedgerId, fromAsset.id, toAsset.id, now);
    if (rate === null)
      throw new ExchangeRateNotFoundError(
        `no exchange rate from ${fromAsset.code} to ${toAsset.code} is in force; an ADMIN sets one with setExchangeRate`,
      );
    const credited = convertedAmount(input.amount, rate);
    const conversionAccountId = await this.conversionAccountId(account.rootLedgerId);
    const result = await this.engine.post(origin, {
      operation: 'convert',
      rootLedgerId: account.rootLedgerId,
      ledgerId: account.ledgerId,
      kind: TransactionKind.TRANSFER,
      idempotencyKey: input.idempotencyKey,
      description: `Conversion of ${input.amount} ${fromAsset.code} to ${credited} ${toAsset.code}`,
      metadata: { conversion: pinConversion(rate, input.amount, credited) },
      effectiveAt: null,
      entries: [
        { accountId, assetCode: fromAsset.code, direction: 'DEBIT', amount: input.amount },
        { accountId: conversionAccountId, assetCode: fromAsset.code, direction: 'CREDIT', amount: input.amount },
        { accountId: conversionAccountId, assetCode: toAsset.code, direction: 'DEBIT', amount: credited },
        { accountId, assetCode: toAsset.code, direction: 'CREDIT', amount: credited },
      ],
      reversalOfId: null,
      pending: false,
      timeoutSeconds: null,
      lotExpiresAt: null,
      request,
    });
    return this.resultOf(result.transaction, result.replayed);
  }

  private async replayOf(original: Transaction, requestHash: string, key: string): Promise<ConversionResult> {
    if (original.requestHash !== requestHash || pinnedConversionOf(original.metadata) === null)
      throw new IdempotencyConflictError(
        `idempotencyKey ${key} was already used for a different request (transaction ${original.id})`,
        { transactionId: original.id },
      );
    return this.resultOf(original, true);
  }

  /** The payload from the transaction itself, so a replay shows the rate the original used. */
  private async resultOf(transaction: Transaction, replayed: boolean): Promise<ConversionResult> {
    const pinned = pinnedConversionOf(transaction.metadata);
    if (pinned === null) throw new Error(`transaction ${transaction.id} carries no pinned conversion`);
    const assets = new Map(
      (await this.assets.fetchByIds([pinned.fromAssetId, pinned.toAssetId])).map((asset) => [asset.id, asset]),
    );
    return {
      transaction,
      replayed,
      rate: {
        id: pinned.rateId,
        fromAsset: assets.get(pinned.fromAssetId)!,
        toAsset: assets.get(pinned.toAssetId)!,
        numerator: BigInt(pinned.numerator),
        denominator: BigInt(pinned.denominator),
        validFrom: new Date(pinned.validFrom),
      },
      debited: BigInt(pinned.debited),
      credited: BigInt(pinned.credited),
    };
  }

  private async assetPair(rootLedgerId: string, fromCode: string, toCode: string): Promise<[Asset, Asset]> {
    if (fromCode === toCode) throw new BadInputError('fromAsset and toAsset must be two different assets');
    const assets = await this.assets.requireByCodes(rootLedgerId, [fromCode, toCode]);
    return [assets.get(fromCode)!, assets.get(toCode)!];
  }

  private async conversionAccountId(rootLedgerId: string): Promise<string> {
    const remembered = this.conversionAccounts.get(rootLedgerId);
    if (remembered !== undefined) return remembered;
    let id = (await systemAccountsOf(this.db, rootLedgerId)).get('system:conversion');
    if (id === undefined) {
      await ensureConversionAccount(this.db.pool, rootLedgerId, newId());
      id = (await systemAccountsOf(this.db, rootLedgerId)).get('system:conversion')!;
    }
    this.conversionAccounts.set(rootLedgerId, id);
    return id;
  }
}

function viewOf(row: ExchangeRateRow, fromAsset: Asset, toAsset: Asset): ExchangeRateView {
  return {
    id: row.id,
    fromAsset,
    toAsset,
    numerator: row.numerator,
    denominator: row.denominator,
    validFrom: row.validFrom,
  };
}
