import type pg from 'pg';
import type { Database } from '../platform/db.js';
import {
  BadInputError,
  ForbiddenError,
  GiftCardExpiredError,
  GiftCardLockedError,
  IdempotencyConflictError,
  NotFoundError,
} from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { requireId } from '../platform/validation.js';
import { authorize, canReach, requireReach, type Placement } from '../authorization/access.core.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import { insertAuditEventSql } from '../audit/audit.repository.js';
import type { AccountService } from '../accounts/account.service.js';
import { toBalance } from '../accounts/account.service.js';
import type { Balance } from '../accounts/account.types.js';
import type { AssetService } from '../assets/asset.service.js';
import type { LedgerService } from '../ledgers/ledger.service.js';
import { TransactionKind, type Transaction } from '../transactions/transaction.types.js';
import type { TransactionService } from '../transactions/transaction.service.js';
import type { PostingEngine, PostingCommand, PostingResult } from '../postings/posting-engine.js';
import type { PostingService } from '../postings/postings.service.js';
import { checkIdempotencyKey, requestFingerprint } from '../postings/postings.core.js';
import { inTransaction } from '../platform/transaction.js';
import {
  generateCode,
  generatePin,
  isLuhnValid,
  last4Of,
  MASKED_PIN,
  maskedCode,
  normalizeCode,
  requirePinShape,
} from './giftcard.core.js';
import { randomDigit, type GiftCardSecrets } from './giftcard.secrets.js';
import {
  insertCardAccount,
  insertGiftCard,
  lockCard,
  recordWrongPin,
  resetFailedAttempts,
  selectCardByDigest,
  selectCardById,
  selectCardByKey,
  unlockCard,
  type GiftCardRow,
} from './giftcard.repository.js';

export interface IssueGiftCardInput {
  ledgerId: string;
  asset: string;
  amount: bigint;
  idempotencyKey: string;
  expiresAt?: Date | null;
}

export interface RedeemGiftCardInput {
  code: string;
  pin: string;
  amount: bigint;
  idempotencyKey: string;
}

export interface IssuedGiftCardResult {
  card: GiftCardRow;
  /** The code and PIN in clear on the first answer only; a replay shows them masked. */
  code: string;
  pin: string;
  transaction: Transaction;
  replayed: boolean;
}

/**
 * The one answer to a wrong code and a wrong PIN alike, so that neither tells a guesser which it got:
 * same message, same code, and the same work (a PIN hash and one statement) behind it.
 */
const NO_SUCH_CARD = 'no gift card matches this code and PIN';

/**
 * Gift cards: a card is an account of its ledger that holds its value, opened at a till by its code and
 * PIN. Issuing writes the card, its account and the issuing posting in one database transaction (the
 * engine's postWithin); redeeming is a REDEEM posting decided under the card's row lock.
 */
export class GiftCardService {
  constructor(
    private readonly db: Database,
    private readonly ledgers: LedgerService,
    private readonly assets: AssetService,
    private readonly accounts: AccountService,
    private readonly transactions: TransactionService,
    private readonly postings: PostingService,
    private readonly engine: PostingEngine,
    private readonly attemptsMax: number,
    private readonly secrets: GiftCardSecrets | null,
  ) {}

  async issue(origin: RequestOrigin, input: IssueGiftCardInput): Promise<IssuedGiftCardResult> {
    authorize(origin.principal, 'issueGiftCard');
    const secrets = this.requireSecrets();
    const ledgerId = requireId(input.ledgerId, 'ledgerId');
    const placement = (await this.ledgers.placements([ledgerId])).get(ledgerId);
    if (placement === undefined) throw new NotFoundError(`ledger ${input.ledgerId} does not exist`);
    requireReach(origin.principal, placement, 'the ledger');
    checkIdempotencyKey(input.idempotencyKey);
    if (input.amount <= 0n) throw new BadInputError('amount must be positive');
    const now = new Date();
    if (input.expiresAt != null && input.expiresAt <= now) throw new BadInputError('expiresAt must be in the future');
    const asset = (await this.assets.requireByCodes(placement.rootLedgerId, [input.asset])).get(input.asset)!;
    const request = {
      operation: 'issueGiftCard',
      ledgerId,
      asset: asset.code,
      amount: input.amount,
      idempotencyKey: input.idempotencyKey,
      expiresAt: input.expiresAt ?? null,
    };
    const requestHash = requestFingerprint(request);

    const existing = await selectCardByKey(this.db.pool, placement.rootLedgerId, input.idempotencyKey);
    if (existing !== null) return this.replayIssue(existing, requestHash);

    const code = generateCode(randomDigit);
    const pin = generatePin(randomDigit);
    const card: GiftCardRow & { codeDigest: Buffer } = {
      id: newId(),
      rootLedgerId: placement.rootLedgerId,
      ledgerId,
      accountId: newId(),
      assetId: asset.id,
      codeDigest: secrets.codeDigest(code),
      pinHash: await secrets.hashPin(pin),
      last4: last4Of(code),
      status: 'ACTIVE',
      failedAttempts: 0,
      expiresAt: input.expiresAt ?? null,
      idempotencyKey: input.idempotencyKey,
      requestHash,
    };
    const issuance = await this.postings.systemAccountId(placement.rootLedgerId, 'system:issuance');
    let result: PostingResult;
    try {
      result = await this.engine.postWithin(origin, 'ISSUE', async (client) => {
        await insertCardAccount(client, {
          id: card.accountId,
          rootLedgerId: card.rootLedgerId,
          ledgerId,
          code: `giftcard:${card.id}`,
          name: `Gift card ending ${card.last4}`,
          cardId: card.id,
        });
        await insertGiftCard(client, card);
        await insertAuditEventSql(
          client,
          auditEvent(origin, 'issueGiftCard', card.rootLedgerId, [card.id, card.accountId]),
        );
        return this.command('issueGiftCard', card, TransactionKind.ISSUE, input.idempotencyKey, request, [
          { accountId: issuance, assetCode: asset.code, direction: 'DEBIT', amount: input.amount },
          { accountId: card.accountId, assetCode: asset.code, direction: 'CREDIT', amount: input.amount },
        ]);
      });
    } catch (error) {
      // Another request with this key committed its card first: answer as its replay.
      if ((error as { code?: string }).code === '23505') {
        const winner = await selectCardByKey(this.db.pool, placement.rootLedgerId, input.idempotencyKey);
        if (winner !== null) return this.replayIssue(winner, requestHash);
      }
      throw error;
    }
    if (result.replayed)
      throw new IdempotencyConflictError(
        `idempotencyKey ${input.idempotencyKey} was already used for another transaction (${result.transaction.id})`,
        { transactionId: result.transaction.id },
      );
    return { card, code, pin, transaction: result.transaction, replayed: false };
  }

  /** The balance on the card, to a caller with its code and PIN. */
  async balance(origin: RequestOrigin, code: string, pin: string): Promise<Balance> {
    authorize(origin.principal, 'giftCardBalance');
    const card = await this.open(origin, code, pin);
    await resetFailedAttempts(this.db.pool, card);
    const [balance] = (
      await this.accounts.balancesOf([{ rootLedgerId: card.rootLedgerId, accountId: card.accountId }])
    ).filter((candidate) => candidate.assetId === card.assetId);
    return (
      balance ??
      toBalance(
        { rootLedgerId: card.rootLedgerId, accountId: card.accountId, assetId: card.assetId, normalBalance: 'CREDIT' },
        { debitsPosted: 0n, creditsPosted: 0n, debitsPending: 0n, creditsPending: 0n },
        0,
        null,
      )
    );
  }

  /** Takes `amount` off the card (any part of what is on it), to a caller with its code and PIN. */
  async redeem(origin: RequestOrigin, input: RedeemGiftCardInput): Promise<PostingResult> {
    authorize(origin.principal, 'redeemGiftCard');
    checkIdempotencyKey(input.idempotencyKey);
    if (input.amount <= 0n) throw new BadInputError('amount must be positive');
    const opened = await this.open(origin, input.code, input.pin);
    const [asset] = await this.assets.fetchByIds([opened.assetId]);
    const redemption = await this.postings.systemAccountId(opened.rootLedgerId, 'system:redemption');
    const request = { operation: 'redeemGiftCard', cardId: opened.id, amount: input.amount };
    return this.engine.postWithin(origin, 'REDEEM', async (client) => {
      // Decided under the card's lock, so that a lock or an expiry that lands meanwhile is obeyed.
      const card = await lockCard(client, opened);
      if (card.status === 'LOCKED') throw lockedError();
      if (card.status === 'CLOSED') throw new BadInputError('this gift card is closed');
      if (card.expiresAt !== null && card.expiresAt <= new Date()) throw expiredError(card);
      await resetFailedAttempts(client, card);
      return this.command('redeemGiftCard', card, TransactionKind.REDEEM, input.idempotencyKey, request, [
        { accountId: card.accountId, assetCode: asset!.code, direction: 'DEBIT', amount: input.amount },
        { accountId: redemption, assetCode: asset!.code, direction: 'CREDIT', amount: input.amount },
      ]);
    });
  }

  /** Lifts a lock: the card is ACTIVE again with no wrong PINs counted. ADMIN. */
  async unlock(origin: RequestOrigin, id: string): Promise<GiftCardRow> {
    authorize(origin.principal, 'unlockGiftCard');
    const card = await this.requireVisible(origin, requireId(id, 'id'));
    return inTransaction(this.db.pool, this.attemptsMax, async (client: pg.PoolClient) => {
      const unlocked = await unlockCard(client, card);
      await insertAuditEventSql(client, auditEvent(origin, 'unlockGiftCard', card.rootLedgerId, [card.id]));
      return unlocked;
    });
  }

  /** A card by id, for an OPERATOR of its ledger: its status, never its code. */
  async findById(origin: RequestOrigin, id: string): Promise<GiftCardRow> {
    authorize(origin.principal, 'giftCardBalance', 'giftCard');
    return this.requireVisible(origin, requireId(id, 'id'));
  }

  private async requireVisible(origin: RequestOrigin, id: string): Promise<GiftCardRow> {
    const root = await this.db.roots.rootOf('gift_cards', id);
    const card = root === null ? null : await selectCardById(this.db.pool, root, id);
    if (card === null) throw new NotFoundError(`gift card ${id} does not exist`);
    // An id is no secret (unlike a code): out of reach is FORBIDDEN, as for any object named by id.
    requireReach(origin.principal, await this.placementOf(card), 'the gift card');
    return card;
  }

  /**
   * The card a code and PIN open. A code of no card (or of a card outside the caller's reach, or with a
   * wrong check digit) and a wrong PIN get the same error after the same work. A locked card says so to
   * anyone holding its code, right PIN or not: answering a wrong PIN differently from a right one there
   * would let a guesser go on guessing.
   */
  private async open(origin: RequestOrigin, typedCode: string, typedPin: string): Promise<GiftCardRow> {
    const secrets = this.requireSecrets();
    const code = normalizeCode(typedCode);
    const pin = requirePinShape(typedPin);
    // Looked up even with a wrong check digit (no card has one), so that such a code costs the same statements.
    const found = await selectCardByDigest(this.db.pool, secrets.codeDigest(code));
    const card =
      found !== null && isLuhnValid(code) && canReach(origin.principal, await this.placementOf(found)) ? found : null;
    if (card === null) {
      await secrets.verifyDecoy(pin);
      await recordWrongPin(this.db.pool, null);
      throw new NotFoundError(NO_SUCH_CARD);
    }
    if (card.status === 'LOCKED') {
      await secrets.verifyDecoy(pin);
      throw lockedError();
    }
    if (!(await secrets.verifyPin(pin, card.pinHash))) {
      const counted = await recordWrongPin(this.db.pool, card);
      // Locked by a concurrent wrong PIN between the read and this one: that is what the card is now.
      if (counted === null) throw lockedError();
      throw new NotFoundError(NO_SUCH_CARD);
    }
    if (card.status === 'CLOSED') throw new BadInputError('this gift card is closed');
    if (card.expiresAt !== null && card.expiresAt <= new Date()) throw expiredError(card);
    return card;
  }

  private async replayIssue(card: GiftCardRow, requestHash: string): Promise<IssuedGiftCardResult> {
    if (card.requestHash !== requestHash)
      throw new IdempotencyConflictError(
        `idempotencyKey ${card.idempotencyKey} was already used to issue a different gift card (${card.id})`,
      );
    const transaction = await this.transactions.findByIdempotencyKey(card.rootLedgerId, card.idempotencyKey);
    if (transaction === null) throw new Error(`gift card ${card.id} has no issuing transaction`);
    return { card, code: maskedCode(card.last4), pin: MASKED_PIN, transaction, replayed: true };
  }

  private command(
    operation: string,
    card: GiftCardRow,
    kind: TransactionKind,
    idempotencyKey: string,
    request: unknown,
    entries: PostingCommand['entries'],
  ): PostingCommand {
    return {
      operation,
      rootLedgerId: card.rootLedgerId,
      ledgerId: card.ledgerId,
      kind,
      idempotencyKey,
      description: `Gift card ending ${card.last4}`,
      metadata: { giftCardId: card.id },
      effectiveAt: null,
      entries,
      reversalOfId: null,
      pending: false,
      timeoutSeconds: null,
      lotExpiresAt: null,
      request,
    };
  }

  private async placementOf(card: GiftCardRow): Promise<Placement> {
    return (
      (await this.ledgers.placements([card.ledgerId])).get(card.ledgerId) ?? {
        rootLedgerId: card.rootLedgerId,
        ledgerPath: [],
      }
    );
  }

  private requireSecrets(): GiftCardSecrets {
    if (this.secrets === null) throw new ForbiddenError('gift cards are off on this server: it has no GIFT_CARD_KEY');
    return this.secrets;
  }
}

function lockedError(): GiftCardLockedError {
  return new GiftCardLockedError('this gift card is locked after five wrong PINs in a row; an ADMIN can unlock it');
}

function expiredError(card: GiftCardRow): GiftCardExpiredError {
  return new GiftCardExpiredError(`this gift card expired at ${card.expiresAt!.toISOString()}`);
}
