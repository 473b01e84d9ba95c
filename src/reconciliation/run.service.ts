import type { Database } from '../platform/db.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { BadInputError, ConflictError, IdempotencyConflictError, NotFoundError } from '../platform/errors.js';
import { isUuid, newId } from '../platform/ids.js';
import type { Logger } from '../platform/logger.js';
import { readPage, toConnection, type Connection } from '../platform/pagination.js';
import { inTransactionOn } from '../platform/transaction.js';
import { requireId } from '../platform/validation.js';
import { authorize, requireReach, type Principal } from '../authorization/access.core.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import { insertAuditEventSql } from '../audit/audit.repository.js';
import type { LedgerService } from '../ledgers/ledger.service.js';
import {
  checkKey,
  checkRunWindow,
  ledgerWindow,
  runRequestHash,
  type ExceptionKind,
  type ExceptionStatus,
  type RunMode,
} from './matcher.core.js';
import { analyzeMatcherTables, applyRules, createMatcherTables, insertLedgerLines } from './matcher.repository.js';
import {
  claimRun,
  finishRun,
  insertPreviousMatches,
  insertRunRecords,
  lockSource,
  selectActiveRules,
  selectExceptionPage,
  selectMatchedOutsideLines,
  selectRun,
  selectRunByKey,
  selectRunPage,
  selectRuns,
  selectSource,
  tryLockRunKey,
  unlockRunKey,
  writeRunOutcome,
  type ExceptionRow,
  type RunClaim,
  type RunRow,
  type SourceRow,
} from './run.repository.js';
import type { RunEvents } from './run-events.js';

// How often, and how long apart, a caller looks again for the run of a key another caller is claiming.
const KEY_HOLDER_WAITS_MAX = 100;
const KEY_HOLDER_WAIT_MS = 20;

/** A key's run answers only the request it was made for. */
function sameRequest(run: RunRow, requestHash: string, key: string): RunRow {
  if (run.requestHash !== requestHash)
    throw new IdempotencyConflictError(
      `idempotencyKey ${key} was already used for a different run of this source (run ${run.id})`,
    );
  return run;
}

export interface RunInput {
  sourceId: string;
  mode: RunMode;
  from: Date;
  to: Date;
  idempotencyKey: string;
}

/**
 * Reconciliation runs. A run claims its idempotency key in a row of its own (committed at once, so its
 * RUNNING state is visible and pushed), then does all its work in one database transaction: fill the two
 * sides, pair them rule by rule, write the report and, for COMMIT, the matches, and complete the run row.
 * A COMMIT run locks its source first, so COMMIT runs of one source (and the continuous matcher, and
 * manual matches) take turns; the exclusive keys of reconciliation_matches are the guard behind the lock.
 */
export class RunService {
  constructor(
    private readonly db: Database,
    private readonly ledgers: LedgerService,
    private readonly events: RunEvents,
    private readonly logger: Logger,
    private readonly attemptsMax: number,
  ) {}

  /** The source, after the caller's reach over its ledger is checked. */
  async reachableSource(principal: Principal, id: string, argument = 'sourceId'): Promise<SourceRow> {
    const sourceId = requireId(id, argument);
    const root = await this.db.roots.rootOf('reconciliation_sources', sourceId);
    const source = root === null ? null : await selectSource(this.db.pool, root, sourceId);
    if (source === null) throw new NotFoundError(`external source ${id} does not exist`);
    const placement = (await this.ledgers.placements([source.ledgerId])).get(source.ledgerId);
    requireReach(principal, placement ?? { rootLedgerId: source.rootLedgerId, ledgerPath: [] }, 'the external source');
    return source;
  }

  async run(origin: RequestOrigin, input: RunInput): Promise<RunRow> {
    authorize(origin.principal, 'runReconciliation');
    if (input.mode === 'COMMIT')
      authorize(origin.principal, 'commitReconciliation', 'runReconciliation in COMMIT mode');
    const key = checkKey(input.idempotencyKey);
    checkRunWindow(input.from, input.to);
    const source = await this.reachableSource(origin.principal, input.sourceId);
    const rules = await selectActiveRules(this.db.pool, source.rootLedgerId, source.id);
    if (rules.length === 0) throw new BadInputError('the source has no match rules; add one with createMatchRule');
    const requestHash = runRequestHash({ sourceId: source.id, mode: input.mode, from: input.from, to: input.to });
    const candidate: RunClaim = {
      id: newId(),
      rootLedgerId: source.rootLedgerId,
      sourceId: source.id,
      mode: input.mode,
      from: input.from,
      to: input.to,
      idempotencyKey: key,
      requestHash,
      rulesVersion: source.rulesVersion,
      ruleIds: rules.map((rule) => rule.id),
    };
    for (let attempt = 1; ; attempt += 1) {
      const answer = await this.claimAndWork(origin, source, candidate);
      if (answer !== null) return sameRequest(answer, requestHash, key);
      // Another live caller holds the key's lock but has not claimed it yet: its run row is moments away.
      if (attempt >= KEY_HOLDER_WAITS_MAX)
        throw new ConflictError(`idempotencyKey ${key} is being claimed by another request; retry it`);
      await sleep(KEY_HOLDER_WAIT_MS);
    }
  }

  /**
   * Works the run under its key's session lock, on one connection: claims the key (or finds the run that
   * holds it), and works a run it claimed or one whose worker died (a RUNNING run whose lock was free).
   * Returns the key's run, or null when another live caller holds the lock before its run row exists.
   */
  private async claimAndWork(origin: RequestOrigin, source: SourceRow, candidate: RunClaim): Promise<RunRow | null> {
    const client = await this.db.pool.connect();
    let broken = false;
    try {
      if (!(await tryLockRunKey(client, source.id, candidate.idempotencyKey)))
        return await selectRunByKey(client, source, candidate.idempotencyKey);
      try {
        const claim = await claimRun(client, candidate);
        if (!claim.claimed && (claim.run.status !== 'RUNNING' || claim.run.requestHash !== candidate.requestHash))
          return claim.run;
        if (!claim.claimed)
          this.logger.warn('resuming a reconciliation run whose worker stopped', { runId: claim.run.id });
        return await this.execute(client, origin, source, claim.run, () => (broken = true));
      } finally {
        if (!broken) await unlockRunKey(client, source.id, candidate.idempotencyKey).catch(() => (broken = true));
      }
    } finally {
      client.release(broken);
    }
  }

  /** Works a RUNNING run in one transaction and records how it ended; both states are pushed. */
  private async execute(
    client: import('pg').PoolClient,
    origin: RequestOrigin,
    source: SourceRow,
    started: RunRow,
    onBroken: () => void,
  ): Promise<RunRow> {
    this.events.publish(started);
    let brokenNow = false;
    try {
      const finished = await inTransactionOn(
        client,
        this.attemptsMax,
        (tx) => this.work(tx, origin, source, started),
        () => {
          brokenNow = true;
          onBroken();
        },
      );
      this.events.publish(finished);
      return finished;
    } catch (error) {
      this.logger.error('reconciliation run failed', { runId: started.id, error });
      // Recorded on this session while it still holds the key's lock, so no other caller resumes the run.
      const failed = await finishRun(brokenNow ? this.db.pool : client, started, {
        status: 'FAILED',
        error: error instanceof Error ? error.message.slice(0, 500) : 'failed',
      });
      this.events.publish(failed);
      return failed;
    }
  }

  private async work(
    client: import('pg').PoolClient,
    origin: RequestOrigin,
    claimed: SourceRow,
    run: RunRow,
  ): Promise<RunRow> {
    // The run's statements are planned for their own window and sizes, not with the generic plans the
    // write path forces for its short statements (platform/transaction.ts); and its sorts and hashes of
    // 100,000s of rows get the memory to stay off disk (the default 4 MB spilled every one of them). JIT is
    // off: the run's statements are costed high enough to be compiled with inlining and optimization, which
    // took 0.2 to 0.5 s each (0.7 s of a 100,000-record run) and saves less than that on sorts and hashes.
    await client.query("SET LOCAL plan_cache_mode = auto; SET LOCAL work_mem = '64MB'; SET LOCAL jit = off");
    const source = run.mode === 'COMMIT' ? await lockSource(client, claimed.rootLedgerId, claimed.id) : claimed;
    if (source === null) throw new NotFoundError(`external source ${claimed.id} does not exist`);
    // Read again under the lock: the rules the run used are the ones it records.
    const rules = await selectActiveRules(client, source.rootLedgerId, source.id);
    await createMatcherTables(client);
    await insertRunRecords(client, source, run.from, run.to);
    const journalHighWater = await insertLedgerLines(
      client,
      { rootLedgerId: source.rootLedgerId, sourceId: source.id, ledgerId: source.ledgerId },
      ledgerWindow(run.from, run.to, rules),
      { from: run.from, to: run.to },
      rules,
    );
    const outside = await selectMatchedOutsideLines(client);
    if (outside.length > 0) {
      await insertLedgerLines(
        client,
        { rootLedgerId: source.rootLedgerId, sourceId: source.id, ledgerId: source.ledgerId },
        { transactionIds: outside },
        null,
        rules,
      );
    }
    await analyzeMatcherTables(client);
    await insertPreviousMatches(client);
    await applyRules(client, rules, { analyze: true });
    const exceptionBase = newId();
    const outcome = await writeRunOutcome(
      client,
      { id: run.id, rootLedgerId: source.rootLedgerId, sourceId: source.id, mode: run.mode },
      () => exceptionBase,
    );
    if (outcome.inserted !== outcome.wanted)
      throw new Error(
        `${outcome.wanted - outcome.inserted} of the run's matches were taken by another writer; run it again`,
      );
    await insertAuditEventSql(
      client,
      auditEvent(origin, 'runReconciliation', source.rootLedgerId, [run.id, source.id]),
    );
    return finishRun(client, run, {
      status: 'COMPLETED',
      summary: outcome.summary,
      journalHighWater,
      rulesVersion: source.rulesVersion,
      ruleIds: rules.map((rule) => rule.id),
    });
  }

  async findById(principal: Principal, id: string): Promise<RunRow | null> {
    if (!isUuid(id)) throw new BadInputError('id must be an id (a UUID)');
    const root = await this.db.roots.rootOf('reconciliation_runs', id);
    const run = root === null ? null : await selectRun(this.db.pool, root, id.toLowerCase());
    if (run === null) return null;
    await this.reachableSource(principal, run.sourceId, 'id');
    return run;
  }

  fetchByIds(ids: readonly string[]): Promise<RunRow[]> {
    return this.db.roots.readByRoot('reconciliation_runs', ids, (root, rootIds) =>
      selectRuns(this.db.pool, root, rootIds),
    );
  }

  async list(principal: Principal, sourceId: string, first?: number | null, after?: string | null) {
    const page = readPage(first, after);
    const source = await this.reachableSource(principal, sourceId);
    // A list, stale-OK like the others. A run's exceptions and report stay on the primary: a replica behind a
    // run's completion would show a completed run with none of its rows, which is wrong rather than late.
    return toConnection(await this.db.stale(({ pool }) => selectRunPage(pool, source, page)), page);
  }

  async exceptions(
    run: { rootLedgerId: string; id: string },
    first: number | null | undefined,
    after: string | null | undefined,
    kind: ExceptionKind | null,
    status: ExceptionStatus | null,
  ): Promise<Connection<ExceptionRow>> {
    const page = readPage(first, after);
    return toConnection(await selectExceptionPage(this.db.pool, run, { kind, status }, page), page);
  }

  /** The runs of a source as they start and finish, for `reconciliationUpdated`; reach is checked first. */
  async updates(principal: Principal, sourceId: string): Promise<AsyncIterableIterator<RunRow>> {
    const source = await this.reachableSource(principal, sourceId);
    return this.events.subscribe(source.id);
  }

  /** Subscribers of run updates on this instance, for metrics and tests. */
  subscriberCount(): number {
    return this.events.listenerCount();
  }
}
