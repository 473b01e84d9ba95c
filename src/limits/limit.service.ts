import type { Database } from '../platform/db.js';
import { BadInputError, NotFoundError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { inTransaction } from '../platform/transaction.js';
import { requireId } from '../platform/validation.js';
import type { CalendarPeriod } from '../platform/calendar.core.js';
import type { LimitPeriod } from '../platform/calendar.types.js';
import { authorize, ledgerPlacement, requireReach } from '../authorization/access.core.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import { insertAuditEventSql } from '../audit/audit.repository.js';
import type { LedgerService } from '../ledgers/ledger.service.js';
import type { AssetService } from '../assets/asset.service.js';
import { LIMITS_PER_TREE_MAX, remainingOf, requireLimitRule } from './limit.core.js';
import {
  countActiveLimits,
  databaseKnowsZone,
  insertLimit,
  lockTreeLimits,
  markLimitDeleted,
  selectActiveLimit,
  selectUsageOfAccounts,
} from './limit.repository.js';
import { LimitUsage, type Limit, type LimitKind } from './limit.types.js';

export interface CreateLimitRequest {
  ledgerId: string;
  asset: string;
  kind: LimitKind;
  amount: bigint;
  period?: LimitPeriod | null;
  timeZone?: string | null;
}

/** Limits as data: ADMIN creates and deletes them; the posting functions enforce them. */
export class LimitService {
  constructor(
    private readonly db: Database,
    private readonly ledgers: LedgerService,
    private readonly assets: AssetService,
    private readonly attemptsMax: number,
  ) {}

  async create(origin: RequestOrigin, input: CreateLimitRequest): Promise<Limit> {
    authorize(origin.principal, 'createLimit');
    const ledger = await this.ledgers.findById(requireId(input.ledgerId, 'ledgerId'));
    if (ledger === null) throw new NotFoundError(`ledger ${input.ledgerId} does not exist`);
    requireReach(origin.principal, ledgerPlacement(ledger), 'the ledger');
    const rule = requireLimitRule({
      kind: input.kind,
      amount: input.amount,
      period: (input.period ?? null) as CalendarPeriod | null,
      timeZone: input.timeZone,
    });
    if (!(await databaseKnowsZone(this.db.pool, rule.timeZone)))
      throw new BadInputError(`timeZone ${rule.timeZone} is not known to the ledger's database`);
    const asset = (await this.assets.requireByCodes(ledger.rootLedgerId, [input.asset])).get(input.asset)!;
    return inTransaction(this.db.pool, this.attemptsMax, async (client) => {
      await lockTreeLimits(client, ledger.rootLedgerId);
      if ((await countActiveLimits(client, ledger.rootLedgerId)) >= LIMITS_PER_TREE_MAX)
        throw new BadInputError(`a ledger tree has at most ${LIMITS_PER_TREE_MAX} limits; delete one first`);
      const limit = await insertLimit(client, {
        id: newId(),
        rootLedgerId: ledger.rootLedgerId,
        ledgerId: ledger.id,
        assetId: asset.id,
        kind: rule.kind as LimitKind,
        amount: rule.amount,
        period: rule.period as LimitPeriod | null,
        timeZone: rule.timeZone,
      });
      await insertAuditEventSql(client, auditEvent(origin, 'createLimit', ledger.rootLedgerId, [limit.id]));
      this.db.roots.remember('limits', limit.id, limit.rootLedgerId);
      return limit;
    });
  }

  async delete(origin: RequestOrigin, id: string): Promise<Limit> {
    authorize(origin.principal, 'deleteLimit');
    const limitId = requireId(id, 'id');
    const root = await this.db.roots.rootOf('limits', limitId);
    const found = root === null ? null : await selectActiveLimit(this.db.pool, root, limitId);
    const placement =
      found === null ? undefined : (await this.ledgers.placements([found.ledgerId])).get(found.ledgerId);
    if (found === null || placement === undefined) throw new NotFoundError(`limit ${id} does not exist`);
    requireReach(origin.principal, placement, 'the limit’s ledger');
    return inTransaction(this.db.pool, this.attemptsMax, async (client) => {
      await lockTreeLimits(client, found.rootLedgerId);
      const deleted = await markLimitDeleted(client, found.rootLedgerId, found.id);
      if (deleted === null) throw new NotFoundError(`limit ${id} does not exist`);
      await insertAuditEventSql(client, auditEvent(origin, 'deleteLimit', found.rootLedgerId, [found.id]));
      return deleted;
    });
  }

  /** Each account's limits as they stand now; system accounts have none (limits bind customers). */
  async usageOf(
    accounts: Array<{ rootLedgerId: string; accountId: string; ledgerId: string; isSystem: boolean }>,
  ): Promise<LimitUsage[][]> {
    const customers = accounts.filter((account) => !account.isSystem);
    const rows = customers.length === 0 ? [] : await selectUsageOfAccounts(this.db.pool, customers, new Date());
    return accounts.map((account) =>
      rows
        .filter((row) => row.accountId === account.accountId)
        .map((row) =>
          Object.assign(new LimitUsage(), {
            limit: row.limit,
            used: row.used,
            remaining: remainingOf(row.limit.amount, row.used),
            periodStart: row.periodStart,
            periodEnd: row.periodEnd,
          }),
        ),
    );
  }
}
