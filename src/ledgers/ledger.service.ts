import type { Database } from '../platform/db.js';
import { BadInputError, ForbiddenError, NotFoundError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { readPage, toConnection, type Connection } from '../platform/pagination.js';
import { missBatcher } from '../platform/loader.js';
import { requireId, requireName, requirePattern } from '../platform/validation.js';
import { authorize, ledgerPlacement, requireReach, type Placement, type Principal } from '../authorization/access.core.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import { Ledger, LedgerBalance } from './ledger.types.js';
import type { Prisma } from '../generated/prisma/client.js';

/** System accounts every root ledger gets: the default counterparties of the convenience postings. */
export const SYSTEM_ACCOUNT_CODES = ['system:issuance', 'system:redemption', 'system:expiry', 'system:adjustment'] as const;
export type SystemAccountCode = (typeof SYSTEM_ACCOUNT_CODES)[number];

const LEDGER_CODE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

type LedgerRow = { id: string; rootLedgerId: string; parentId: string | null; code: string; name: string; metadata: unknown; path: string[]; createdAt: Date };

export function toLedger(row: LedgerRow): Ledger {
  return Object.assign(new Ledger(), {
    id: row.id,
    rootLedgerId: row.rootLedgerId,
    parentId: row.parentId,
    code: row.code,
    name: row.name,
    metadata: row.metadata as Record<string, unknown>,
    path: row.path,
    createdAt: row.createdAt,
  });
}

export interface CreateLedgerInput {
  code: string;
  name: string;
  parentId?: string | null;
  metadata?: Record<string, unknown> | null;
}

// Bounds the placement cache; a clear on overflow only costs one re-read per ledger.
const PLACEMENT_CACHE_MAX = 100_000;

const LEDGER_COLUMNS = `l.id, l.root_ledger_id AS "rootLedgerId", l.parent_id AS "parentId", l.code, l.name, l.metadata, l.path, l.created_at AS "createdAt"`;

export class LedgerService {
  private readonly placementCache = new Map<string, Placement>();
  private readonly readMissingLedger = missBatcher((ids) => this.fetchByIds(ids));

  constructor(private readonly db: Database) {}

  async create(origin: RequestOrigin, input: CreateLedgerInput): Promise<Ledger> {
    const { principal } = origin;
    authorize(principal, 'createLedger');
    const code = requirePattern(input.code, LEDGER_CODE, 'code', 'must be 1 to 64 letters, digits or _ . : -, starting with a letter or digit');
    const name = requireName(input.name);
    const id = newId();

    let parent: Ledger | null = null;
    if (input.parentId != null) {
      parent = await this.findById(requireId(input.parentId, 'parentId'));
      if (parent === null) throw new NotFoundError(`ledger ${input.parentId} does not exist`);
      requireReach(principal, ledgerPlacement(parent), 'the parent ledger');
    } else if (principal.scope !== null) {
      throw new ForbiddenError('only a global admin credential can create a root ledger');
    }

    const rootLedgerId = parent?.rootLedgerId ?? id;
    const row = {
      id,
      rootLedgerId,
      parentId: parent?.id ?? null,
      code,
      name,
      metadata: (input.metadata ?? {}) as Prisma.InputJsonObject,
      path: [...(parent?.path ?? []), id],
    };
    try {
      const created = await this.db.prisma.$transaction(async (tx) => {
        const ledger = await tx.ledger.create({ data: row });
        if (parent === null) {
          await tx.account.createMany({
            data: SYSTEM_ACCOUNT_CODES.map((systemCode) => ({
              id: newId(),
              rootLedgerId,
              ledgerId: id,
              code: systemCode,
              name: systemCode,
              normalBalance: 'CREDIT' as const,
              allowOverdraft: true,
              overdraftLimit: null,
              isSystem: true,
            })),
          });
        }
        await tx.auditEvent.create({ data: auditEvent(origin, 'createLedger', rootLedgerId, [id]) });
        return ledger;
      });
      return toLedger(created);
    } catch (error) {
      if ((error as { code?: string }).code === 'P2002') {
        throw new BadInputError(parent === null ? `a root ledger with code ${code} already exists` : `ledger code ${code} is already used in this tree`);
      }
      throw error;
    }
  }

  async findById(id: string): Promise<Ledger | null> {
    const { rows } = await this.db.pool.query<LedgerRow>({ name: 'ledger_by_id', text: `SELECT ${LEDGER_COLUMNS} FROM ledgers l WHERE l.id = $1`, values: [id] });
    return rows[0] ? toLedger(rows[0]) : null;
  }

  /**
   * `ledger(code:)`: root ledgers are named globally; a scoped credential may also name a sub-ledger
   * inside its own tree. Root codes win when both match.
   */
  async findByCode(principal: Principal, code: string): Promise<Ledger | null> {
    const rows = await this.db.prisma.ledger.findMany({
      where: principal.scope === null ? { code, parentId: null } : { code, rootLedgerId: principal.scope.rootLedgerId },
      take: 1,
    });
    return rows[0] ? toLedger(rows[0]) : null;
  }

  async fetchByIds(ids: string[]): Promise<Ledger[]> {
    const { rows } = await this.db.pool.query<LedgerRow>({ name: 'ledgers_by_ids', text: `SELECT ${LEDGER_COLUMNS} FROM ledgers l WHERE l.id = ANY($1::uuid[])`, values: [ids] });
    return rows.map(toLedger);
  }

  /**
   * Where ledgers sit in their trees, for scope checks on every read. A ledger never moves (its root
   * and path are fixed at creation), so placements are remembered for the life of the process.
   */
  async placements(ids: string[]): Promise<Map<string, Placement>> {
    const found = new Map<string, Placement>();
    const missing: string[] = [];
    for (const id of ids) {
      const cached = this.placementCache.get(id);
      if (cached) found.set(id, cached);
      else missing.push(id);
    }
    if (missing.length > 0) {
      for (const ledger of await Promise.all(missing.map(this.readMissingLedger))) {
        if (ledger === null) continue;
        const placement = ledgerPlacement(ledger);
        if (this.placementCache.size >= PLACEMENT_CACHE_MAX) this.placementCache.clear();
        this.placementCache.set(ledger.id, placement);
        found.set(ledger.id, placement);
      }
    }
    return found;
  }

  /** Root ledgers for global credentials; the top of its scope for a scoped one. */
  async listVisibleRoots(principal: Principal, first?: number | null, after?: string | null): Promise<Connection<Ledger>> {
    authorize(principal, 'ledgers');
    const page = readPage(first, after);
    const rows = await this.db.prisma.ledger.findMany({
      where: {
        ...(principal.scope === null ? { parentId: null } : { rootLedgerId: principal.scope.rootLedgerId, id: principal.scope.ledgerId }),
        ...(page.after ? { id: { gt: page.after } } : {}),
      },
      orderBy: { id: 'asc' },
      take: page.size + 1,
    });
    return toConnection(rows.map(toLedger), page);
  }

  async children(ledger: Ledger, first?: number | null, after?: string | null): Promise<Connection<Ledger>> {
    const page = readPage(first, after);
    const rows = await this.db.prisma.ledger.findMany({
      where: { rootLedgerId: ledger.rootLedgerId, parentId: ledger.id, ...(page.after ? { id: { gt: page.after } } : {}) },
      orderBy: { id: 'asc' },
      take: page.size + 1,
    });
    return toConnection(rows.map(toLedger), page);
  }

  /** Per-asset totals of each ledger's subtree, for many ledgers in one statement. */
  async subtreeBalances(ledgerIds: string[]): Promise<Array<LedgerBalance & { ledgerId: string }>> {
    const { rows } = await this.db.pool.query<{ ledger_id: string; root_ledger_id: string; asset_id: string; dp: string; cp: string; dpe: string; cpe: string }>(
      `SELECT q.id AS ledger_id, b.root_ledger_id, b.asset_id,
              sum(b.debits_posted)::text AS dp, sum(b.credits_posted)::text AS cp,
              sum(b.debits_pending)::text AS dpe, sum(b.credits_pending)::text AS cpe
         FROM unnest($1::uuid[]) AS q(id)
         JOIN ledgers d ON d.path @> ARRAY[q.id]
         JOIN balances b ON b.root_ledger_id = d.root_ledger_id AND b.ledger_id = d.id
        GROUP BY q.id, b.root_ledger_id, b.asset_id
        ORDER BY q.id, b.asset_id`,
      [ledgerIds],
    );
    return rows.map((row) =>
      Object.assign(new LedgerBalance(), {
        ledgerId: row.ledger_id,
        rootLedgerId: row.root_ledger_id,
        assetId: row.asset_id,
        debitsPosted: BigInt(row.dp),
        creditsPosted: BigInt(row.cp),
        debitsPending: BigInt(row.dpe),
        creditsPending: BigInt(row.cpe),
      }),
    );
  }
}
