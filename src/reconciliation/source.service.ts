import type { Database } from '../platform/db.js';
import { BadInputError, NotFoundError } from '../platform/errors.js';
import { isUuid, newId } from '../platform/ids.js';
import { readPage, toConnection, type Connection } from '../platform/pagination.js';
import { inTransaction } from '../platform/transaction.js';
import { requireId, requireName } from '../platform/validation.js';
import { authorize, ledgerPlacement, requireReach, type Operation } from '../authorization/access.core.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import { insertAuditEventSql } from '../audit/audit.repository.js';
import type { LedgerService } from '../ledgers/ledger.service.js';
import { checkRule, checkSourceCode } from './source.core.js';
import {
  insertRule,
  insertSource,
  lockSource,
  retireRuleAt,
  selectActiveRules,
  selectSourcePage,
  selectSources,
  type RuleRow,
  type SourceRow,
} from './source.repository.js';
import { ExternalSource, MatchRule } from './source.types.js';

export interface CreateSourceInput {
  ledgerId: string;
  code: string;
  name: string;
  continuous?: boolean | null;
}

export interface CreateRuleInput {
  sourceId: string;
  priority: number;
  referenceField?: string | null;
  matchAccount?: boolean | null;
  amountTolerance?: bigint | null;
  dateWindowSeconds?: number | null;
}

export function toSource(row: SourceRow): ExternalSource {
  return Object.assign(new ExternalSource(), row);
}

function toRule(row: RuleRow): MatchRule {
  return Object.assign(new MatchRule(), row);
}

/**
 * Reconciliation sources and their match rules. A source belongs to a ledger and covers its subtree;
 * creating one or changing its rules needs the ADMIN role there (rules decide what counts as reconciled).
 * A rule change locks the source row, bumps its rules version and writes its audit row in one transaction.
 */
export class SourceService {
  constructor(
    private readonly db: Database,
    private readonly ledgers: LedgerService,
    private readonly attemptsMax: number,
  ) {}

  async create(origin: RequestOrigin, input: CreateSourceInput): Promise<ExternalSource> {
    authorize(origin.principal, 'createExternalSource');
    const ledger = await this.ledgers.findById(requireId(input.ledgerId, 'ledgerId'));
    if (ledger === null) throw new NotFoundError(`ledger ${input.ledgerId} does not exist`);
    requireReach(origin.principal, ledgerPlacement(ledger), 'the ledger');
    const code = checkSourceCode(input.code);
    const name = requireName(input.name);
    const id = newId();
    try {
      const row = await inTransaction(this.db.pool, this.attemptsMax, async (client) => {
        const created = await insertSource(client, {
          id,
          rootLedgerId: ledger.rootLedgerId,
          ledgerId: ledger.id,
          code,
          name,
          continuous: input.continuous ?? false,
        });
        await insertAuditEventSql(client, auditEvent(origin, 'createExternalSource', ledger.rootLedgerId, [id]));
        return created;
      });
      this.db.roots.remember('reconciliation_sources', row.id, row.rootLedgerId);
      return toSource(row);
    } catch (error) {
      if ((error as { code?: string }).code === '23505')
        throw new BadInputError(`a source with code ${code} already exists in this ledger tree`);
      throw error;
    }
  }

  async createRule(origin: RequestOrigin, input: CreateRuleInput): Promise<MatchRule> {
    const source = await this.reachable(origin, 'createMatchRule', input.sourceId, 'sourceId');
    const spec = checkRule({
      priority: input.priority,
      referenceField: input.referenceField ?? 'idempotencyKey',
      matchAccount: input.matchAccount ?? true,
      amountTolerance: input.amountTolerance ?? 0n,
      dateWindowSeconds: input.dateWindowSeconds ?? 86_400,
    });
    const id = newId();
    const row = await inTransaction(this.db.pool, this.attemptsMax, async (client) => {
      const locked = await lockSource(client, source.rootLedgerId, source.id, true);
      if (locked === null) throw new NotFoundError(`source ${input.sourceId} does not exist`);
      const retired = await retireRuleAt(client, source.rootLedgerId, source.id, spec.priority);
      const created = await insertRule(client, {
        id,
        rootLedgerId: source.rootLedgerId,
        sourceId: source.id,
        ...spec,
        version: locked.rulesVersion,
      });
      await insertAuditEventSql(
        client,
        auditEvent(origin, 'createMatchRule', source.rootLedgerId, [source.id, id, ...retired]),
      );
      return created;
    });
    return toRule(row);
  }

  /**
   * The source named by an argument, after the caller's role for `operation` and reach over the source's
   * ledger are checked: NOT_FOUND when there is none, FORBIDDEN when it is outside the credential's scope.
   */
  async reachable(origin: RequestOrigin, operation: Operation, id: string, argument = 'id'): Promise<SourceRow> {
    authorize(origin.principal, operation);
    const sourceId = requireId(id, argument);
    const root = isUuid(sourceId) ? await this.db.roots.rootOf('reconciliation_sources', sourceId) : null;
    const row = root === null ? null : ((await selectSources(this.db.pool, root, [sourceId]))[0] ?? null);
    if (row === null) throw new NotFoundError(`source ${id} does not exist`);
    const placement = (await this.ledgers.placements([row.ledgerId])).get(row.ledgerId);
    requireReach(origin.principal, placement ?? { rootLedgerId: row.rootLedgerId, ledgerPath: [] }, 'the source');
    return row;
  }

  /** A source the caller may read, or null when there is none (FORBIDDEN when out of reach). */
  async findById(origin: RequestOrigin, id: string): Promise<ExternalSource | null> {
    try {
      return toSource(await this.reachable(origin, 'externalSource', id));
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      throw error;
    }
  }

  async list(
    origin: RequestOrigin,
    ledger: { id: string; rootLedgerId: string },
    first: number | null | undefined,
    after: string | null | undefined,
  ): Promise<Connection<ExternalSource>> {
    authorize(origin.principal, 'externalSources');
    const page = readPage(first, after);
    const rows = await selectSourcePage(this.db.pool, ledger.rootLedgerId, ledger.id, page.after, page.size);
    return toConnection(rows.map(toSource), page);
  }

  /** Sources by id, for the request loaders (reach is the caller's to check). */
  async fetchByIds(ids: string[]): Promise<ExternalSource[]> {
    const rows = await this.db.roots.readByRoot('reconciliation_sources', ids, (root, rootIds) =>
      selectSources(this.db.pool, root, rootIds),
    );
    return rows.map(toSource);
  }

  /** The rules in force of each source, priority order, for the request loaders. */
  async activeRules(sourceIds: string[]): Promise<MatchRule[]> {
    return (await selectActiveRules(this.db.pool, sourceIds)).map(toRule);
  }
}
