import type pg from 'pg';
import type { Database } from '../platform/db.js';
import {
  AlreadyMatchedError,
  AlreadyResolvedError,
  BadInputError,
  IdempotencyConflictError,
  NotFoundError,
} from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';
import { requireId } from '../platform/validation.js';
import { authorize, type Principal } from '../authorization/access.core.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import { insertAuditEventSql } from '../audit/audit.repository.js';
import type { PostingEngine, PostingCommand } from '../postings/posting-engine.js';
import type { PostingService } from '../postings/postings.service.js';
import type { AssetService } from '../assets/asset.service.js';
import { adjustmentOf, checkKey, checkNote, checkResolutionAllowed, type Resolution } from './matcher.core.js';
import {
  excludeRecord,
  insertManualMatch,
  markResolved,
  RESOLUTION_KEY_INDEX,
  selectAccountBrief,
  selectAssetCode,
  selectRecordBrief,
  selectSubtreeAccountsByCode,
  transactionTouchesScope,
} from './exception.repository.js';
import { lockException, lockSource, selectException, type ExceptionRow, type SourceRow } from './run.repository.js';
import type { RunService } from './run.service.js';

export interface ResolveInput {
  resolution: Resolution;
  note: string;
  idempotencyKey: string;
  transactionId?: string | null;
}

/**
 * Resolving exceptions. Each resolution is one database transaction that locks the source (matches are
 * written under it, as runs write theirs) and the exception, then posts (POST_ADJUSTMENT, through the
 * posting engine's own write path), links (MATCH_MANUALLY, under the exclusive keys) or sets aside
 * (EXPLAIN), marks the exception RESOLVED with its key and writes the audit row. A second call with the
 * same key finds the exception resolved under the lock and answers it again: however many identical calls
 * race, one posts.
 */
export class ResolutionService {
  constructor(
    private readonly db: Database,
    private readonly runs: RunService,
    private readonly engine: PostingEngine,
    private readonly postings: PostingService,
    private readonly assets: AssetService,
  ) {}

  async findById(principal: Principal, id: string): Promise<ExceptionRow | null> {
    if (!isUuid(id)) throw new BadInputError('id must be an id (a UUID)');
    const root = await this.db.roots.rootOf('reconciliation_exceptions', id);
    const row = root === null ? null : await selectException(this.db.pool, root, id.toLowerCase());
    if (row === null) return null;
    await this.runs.reachableSource(principal, row.sourceId, 'id');
    return row;
  }

  async resolve(origin: RequestOrigin, id: string, input: ResolveInput): Promise<ExceptionRow> {
    authorize(origin.principal, 'resolveReconciliationException');
    const exceptionId = requireId(id, 'id');
    const note = checkNote(input.note);
    const key = checkKey(input.idempotencyKey);
    const transactionId = input.transactionId == null ? null : requireId(input.transactionId, 'transactionId');
    const root = await this.db.roots.rootOf('reconciliation_exceptions', exceptionId);
    const found = root === null ? null : await selectException(this.db.pool, root, exceptionId);
    if (found === null) throw new NotFoundError(`reconciliation exception ${id} does not exist`);
    const source = await this.runs.reachableSource(origin.principal, found.sourceId, 'id');
    checkResolutionAllowed(found.kind, input.resolution, transactionId !== null);
    const request = { resolution: input.resolution, note, key, transactionId };
    if (found.status === 'RESOLVED') return replayed(found, request);
    // Planned before the transaction: what an adjustment posts depends only on the exception's own facts.
    const command = input.resolution === 'POST_ADJUSTMENT' ? await this.adjustment(origin, source, found, note) : null;

    return this.engine.withPostings(origin, async (client, post) => {
      await lockSource(client, source.rootLedgerId, source.id);
      const current = await lockException(client, source.rootLedgerId, exceptionId);
      if (current === null) throw new NotFoundError(`reconciliation exception ${id} does not exist`);
      if (current.status === 'RESOLVED') return replayed(current, request);
      let resolutionTransactionId: string | null = null;
      if (command !== null) resolutionTransactionId = (await post(command)).id;
      await this.settle(client, source, current, input.resolution, transactionId ?? resolutionTransactionId);
      let resolved: ExceptionRow;
      try {
        resolved = await markResolved(client, {
          rootLedgerId: source.rootLedgerId,
          id: current.id,
          resolution: input.resolution,
          note,
          resolutionKey: key,
          resolutionTransactionId,
          resolvedBy: origin.principal.actorId,
        });
      } catch (error) {
        if ((error as { constraint?: string }).constraint === RESOLUTION_KEY_INDEX)
          throw new IdempotencyConflictError(
            `idempotencyKey ${key} was already used to resolve another exception of this source`,
          );
        throw error;
      }
      await insertAuditEventSql(
        client,
        auditEvent(origin, 'resolveReconciliationException', source.rootLedgerId, [
          current.id,
          ...(resolutionTransactionId !== null ? [resolutionTransactionId] : []),
          ...(transactionId !== null ? [transactionId] : []),
        ]),
      );
      return resolved;
    });
  }

  /** What the resolution does to the source's matches and records, besides any posting. */
  private async settle(
    client: pg.PoolClient,
    source: SourceRow,
    exception: ExceptionRow,
    resolution: Resolution,
    linkTo: string | null,
  ): Promise<void> {
    const { recordId } = exception;
    if (recordId === null) return;
    // A mismatch explained or corrected is the pair it named; a record explained away is set aside.
    const target =
      exception.kind === 'AMOUNT_MISMATCH' && resolution !== 'MATCH_MANUALLY' ? exception.transactionId : linkTo;
    if (resolution === 'EXPLAIN' && exception.kind !== 'AMOUNT_MISMATCH') {
      await excludeRecord(client, source.rootLedgerId, recordId);
      return;
    }
    if (target === null) return;
    if (resolution === 'MATCH_MANUALLY') {
      const record = await selectRecordBrief(client, source.rootLedgerId, recordId);
      const touches = await transactionTouchesScope(client, source, target, record!.assetId);
      if (touches === 'NOT_FOUND') throw new NotFoundError(`transaction ${target} does not exist in this ledger tree`);
      if (touches === 'NOT_POSTED') throw new BadInputError(`transaction ${target} is not POSTED`);
      if (touches === 'OUT_OF_SCOPE')
        throw new BadInputError(`transaction ${target} moves no account of the source's subtree in the record's asset`);
    }
    const linked = await insertManualMatch(client, {
      rootLedgerId: source.rootLedgerId,
      sourceId: source.id,
      transactionId: target,
      recordId,
    });
    if (!linked)
      throw new AlreadyMatchedError(
        `transaction ${target} or the exception's record is already matched for this source`,
      );
  }

  /** The ADJUST that makes the ledger agree with the partner, on the exception's account. */
  private async adjustment(
    origin: RequestOrigin,
    source: SourceRow,
    exception: ExceptionRow,
    note: string,
  ): Promise<PostingCommand> {
    const signed = adjustmentOf(exception.kind, exception.expectedAmount, exception.ledgerAmount);
    if (signed === null || signed === 0n) throw new BadInputError('there is no difference to post; use EXPLAIN');
    const client = await this.db.pool.connect();
    try {
      let accountId = exception.accountId;
      let assetId = exception.assetId;
      if (accountId === null) {
        const record = await selectRecordBrief(client, source.rootLedgerId, exception.recordId!);
        assetId = record!.assetId;
        if (record!.accountCode === null)
          throw new BadInputError('the record names no accountCode, so the ledger cannot tell whose movement it is');
        const accounts = await selectSubtreeAccountsByCode(
          client,
          source.rootLedgerId,
          source.ledgerId,
          record!.accountCode,
        );
        if (accounts.length !== 1)
          throw new BadInputError(
            accounts.length === 0
              ? `no account ${record!.accountCode} in the source's subtree; post the movement yourself and MATCH_MANUALLY`
              : `several accounts ${record!.accountCode} in the source's subtree; post the movement yourself and MATCH_MANUALLY`,
          );
        accountId = accounts[0]!;
      }
      const account = await selectAccountBrief(client, source.rootLedgerId, accountId);
      const asset = await selectAssetCode(client, source.rootLedgerId, assetId!);
      // Looked up now, so the posting finds the asset cached: planned under the resolution's locks, it must
      // not wait for a second pool connection that the callers queued on those locks may all be holding.
      await this.assets.requireByCodes(source.rootLedgerId, [asset!]);
      const opposite = account!.normalBalance === 'CREDIT' ? 'DEBIT' : 'CREDIT';
      return this.postings.adjustmentCommand(origin, 'resolveReconciliationException', {
        accountId,
        asset: asset!,
        amount: signed < 0n ? -signed : signed,
        // Signed from the account's side: positive means the account gains, in its normal direction.
        direction: signed > 0n ? account!.normalBalance : opposite,
        // One posting per exception, ever: the engine's own key guards it beside the exception's lock.
        idempotencyKey: `reconciliation:${exception.id}`,
        reason: `Reconciliation ${exception.kind} ${exception.id}: ${note}`.slice(0, 500),
        metadata: { reconciliationExceptionId: exception.id, reconciliationRunId: exception.runId },
      });
    } finally {
      client.release();
    }
  }
}

/** A resolved exception, answered again to the request that resolved it and refused to any other. */
function replayed(
  current: ExceptionRow,
  request: { resolution: Resolution; note: string; key: string; transactionId: string | null },
): ExceptionRow {
  if (current.resolutionKey !== request.key)
    throw new AlreadyResolvedError(
      `reconciliation exception ${current.id} is already resolved (${current.resolution})`,
    );
  const sameLink = request.resolution !== 'MATCH_MANUALLY' || request.transactionId !== null;
  if (current.resolution !== request.resolution || current.note !== request.note || !sameLink)
    throw new IdempotencyConflictError(
      `idempotencyKey ${request.key} already resolved this exception with a different request`,
    );
  return current;
}
