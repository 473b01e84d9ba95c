import type { Database } from '../platform/db.js';
import { BadInputError, NotFoundError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { readPage, toConnection, type Connection } from '../platform/pagination.js';
import { missBatcher } from '../platform/loader.js';
import { requireId, requireName, requirePattern } from '../platform/validation.js';
import {
  authorize,
  ledgerPlacement,
  requireCanCreateRoot,
  requireReach,
  type Placement,
  type Principal,
} from '../authorization/access.core.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import { insertAuditEvent } from '../audit/audit.repository.js';
import {
  insertLedger,
  insertRootLedgerCode,
  insertSystemAccounts,
  selectChildPage,
  selectLedger,
  selectLedgerByCode,
  selectLedgers,
  selectRootPage,
  selectSubtreeBalances,
} from './ledger.repository.js';
import type { Ledger, LedgerBalance } from './ledger.types.js';
import type { Prisma } from '../generated/prisma/client.js';

/** System accounts every root ledger gets: the default counterparties of the convenience postings. */
export const SYSTEM_ACCOUNT_CODES = [
  'system:issuance',
  'system:redemption',
  'system:expiry',
  'system:adjustment',
  /** Both sides of every conversion between assets (migration 20261206020000_exchange_rates adds it to older roots). */
  'system:conversion',
] as const;
export type SystemAccountCode = (typeof SYSTEM_ACCOUNT_CODES)[number];

const LEDGER_CODE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

export interface CreateLedgerInput {
  code: string;
  name: string;
  parentId?: string | null;
  metadata?: Record<string, unknown> | null;
}

// Bounds the placement cache; a clear on overflow only costs one re-read per ledger.
const PLACEMENT_CACHE_MAX = 100_000;

export class LedgerService {
  private readonly placementCache = new Map<string, Placement>();
  private readonly readMissingLedger = missBatcher((ids) => this.fetchByIds(ids));

  constructor(private readonly db: Database) {}

  async create(origin: RequestOrigin, input: CreateLedgerInput): Promise<Ledger> {
    const { principal } = origin;
    authorize(principal, 'createLedger');
    const code = requirePattern(
      input.code,
      LEDGER_CODE,
      'code',
      'must be 1 to 64 letters, digits or _ . : -, starting with a letter or digit',
    );
    const name = requireName(input.name);
    const id = newId();

    let parent: Ledger | null = null;
    if (input.parentId != null) {
      parent = await this.findById(requireId(input.parentId, 'parentId'));
      if (parent === null) throw new NotFoundError(`ledger ${input.parentId} does not exist`);
      requireReach(principal, ledgerPlacement(parent), 'the parent ledger');
    } else {
      requireCanCreateRoot(principal);
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
        const ledger = await insertLedger(tx, row);
        if (parent === null) {
          await insertRootLedgerCode(tx, code, rootLedgerId);
          await insertSystemAccounts(tx, rootLedgerId, SYSTEM_ACCOUNT_CODES);
        }
        await insertAuditEvent(tx, auditEvent(origin, 'createLedger', rootLedgerId, [id]));
        return ledger;
      });
      this.db.roots.remember('ledgers', id, rootLedgerId);
      return created;
    } catch (error) {
      if ((error as { code?: string }).code === 'P2002') {
        throw new BadInputError(
          parent === null
            ? `a root ledger with code ${code} already exists`
            : `ledger code ${code} is already used in this tree`,
        );
      }
      throw error;
    }
  }

  async findById(id: string): Promise<Ledger | null> {
    const root = await this.db.roots.rootOf('ledgers', id);
    return root === null ? null : selectLedger(this.db.pool, root, id);
  }

  /**
   * `ledger(code:)`: root ledgers are named globally; a scoped credential may also name a sub-ledger
   * inside its own tree. Root codes win when both match.
   */
  async findByCode(principal: Principal, code: string): Promise<Ledger | null> {
    const ledger = await selectLedgerByCode(this.db.prisma, code, principal.scope?.rootLedgerId ?? null);
    if (ledger !== null) this.db.roots.remember('ledgers', ledger.id, ledger.rootLedgerId);
    return ledger;
  }

  fetchByIds(ids: string[]): Promise<Ledger[]> {
    return this.db.roots.readByRoot('ledgers', ids, (root, rootIds) => selectLedgers(this.db.pool, root, rootIds));
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
  async listVisibleRoots(
    principal: Principal,
    first?: number | null,
    after?: string | null,
  ): Promise<Connection<Ledger>> {
    authorize(principal, 'ledgers');
    const page = readPage(first, after);
    const roots = await selectRootPage(this.db.prisma, principal.scope, page);
    return toConnection(this.db.roots.rememberRows('ledgers', roots), page);
  }

  async children(ledger: Ledger, first?: number | null, after?: string | null): Promise<Connection<Ledger>> {
    const page = readPage(first, after);
    const children = await selectChildPage(this.db.prisma, ledger, page);
    return toConnection(this.db.roots.rememberRows('ledgers', children), page);
  }

  /** Per-asset totals of each ledger's subtree: one statement per tree among the ledgers. */
  subtreeBalances(ledgerIds: string[]): Promise<Array<LedgerBalance & { ledgerId: string }>> {
    return this.db.roots.readByRoot('ledgers', ledgerIds, (root, ids) =>
      selectSubtreeBalances(this.db.pool, root, ids),
    );
  }
}
