import type pg from 'pg';
import type { Prisma } from '../generated/prisma/client.js';
import { newId } from '../platform/ids.js';
import type { Page } from '../platform/pagination.js';
import { Ledger, LedgerBalance } from './ledger.types.js';

/**
 * SQL for ledgers. Reads by id are on every request's path (loaders, scope checks): named prepared
 * statements through pg. Creation, code lookups and the list pages go through Prisma. Every function
 * takes the pool, Prisma, or a transaction's client.
 */
type Reader = pg.Pool | pg.PoolClient;

type LedgerRow = {
  id: string;
  rootLedgerId: string;
  parentId: string | null;
  code: string;
  name: string;
  metadata: unknown;
  path: string[];
  createdAt: Date;
};

function toLedger(row: LedgerRow): Ledger {
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

const LEDGER_COLUMNS = `l.id, l.root_ledger_id AS "rootLedgerId", l.parent_id AS "parentId", l.code, l.name, l.metadata, l.path, l.created_at AS "createdAt"`;

export async function insertLedger(
  tx: Prisma.TransactionClient,
  data: Prisma.LedgerUncheckedCreateInput,
): Promise<Ledger> {
  return toLedger(await tx.ledger.create({ data }));
}

/**
 * A new root's code, in the transaction that inserts the root: the primary key of root_ledger_codes is what
 * keeps root codes unique across tenants (a duplicate fails with Prisma's P2002, like the ledger insert).
 */
export async function insertRootLedgerCode(
  tx: Prisma.TransactionClient,
  code: string,
  rootLedgerId: string,
): Promise<void> {
  await tx.rootLedgerCode.create({ data: { code, rootLedgerId } });
}

/** A new root ledger's system accounts, which may go negative: every posting's default counterparties. */
export async function insertSystemAccounts(
  tx: Prisma.TransactionClient,
  rootLedgerId: string,
  codes: readonly string[],
): Promise<void> {
  await tx.account.createMany({
    data: codes.map((systemCode) => ({
      id: newId(),
      rootLedgerId,
      ledgerId: rootLedgerId,
      code: systemCode,
      name: systemCode,
      normalBalance: 'CREDIT' as const,
      allowOverdraft: true,
      overdraftLimit: null,
      isSystem: true,
    })),
  });
}

export async function selectLedger(reader: Reader, rootLedgerId: string, id: string): Promise<Ledger | null> {
  const { rows } = await reader.query<LedgerRow>({
    name: 'ledger_by_id',
    text: `SELECT ${LEDGER_COLUMNS} FROM ledgers l WHERE l.root_ledger_id = $1 AND l.id = $2`,
    values: [rootLedgerId, id],
  });
  return rows[0] ? toLedger(rows[0]) : null;
}

/** Ledgers of one tree by id. */
export async function selectLedgers(reader: Reader, rootLedgerId: string, ids: string[]): Promise<Ledger[]> {
  const { rows } = await reader.query<LedgerRow>({
    name: 'ledgers_by_ids',
    text: `SELECT ${LEDGER_COLUMNS} FROM ledgers l WHERE l.root_ledger_id = $1 AND l.id = ANY($2::uuid[])`,
    values: [rootLedgerId, ids],
  });
  return rows.map(toLedger);
}

/**
 * A root ledger by code (its root found in root_ledger_codes, then the ledger read by its key), or (with
 * `rootLedgerId`) any ledger of that tree by code.
 */
export async function selectLedgerByCode(
  prisma: Prisma.TransactionClient,
  code: string,
  rootLedgerId: string | null,
): Promise<Ledger | null> {
  if (rootLedgerId === null) {
    const named = await prisma.rootLedgerCode.findUnique({ where: { code } });
    if (named === null) return null;
    const root = await prisma.ledger.findUnique({
      where: { rootLedgerId_id: { rootLedgerId: named.rootLedgerId, id: named.rootLedgerId } },
    });
    return root === null ? null : toLedger(root);
  }
  const rows = await prisma.ledger.findMany({ where: { code, rootLedgerId }, take: 1 });
  return rows[0] ? toLedger(rows[0]) : null;
}

/** Root ledgers (or, with `scope`, the one ledger at the top of a scope), by id, one more than the page. */
export async function selectRootPage(
  prisma: Prisma.TransactionClient,
  scope: { rootLedgerId: string; ledgerId: string } | null,
  page: Page,
): Promise<Ledger[]> {
  const rows = await prisma.ledger.findMany({
    where: {
      ...(scope === null ? { parentId: null } : { rootLedgerId: scope.rootLedgerId, id: scope.ledgerId }),
      ...(page.after ? { id: { gt: page.after } } : {}),
    },
    orderBy: { id: 'asc' },
    take: page.size + 1,
  });
  return rows.map(toLedger);
}

/** A ledger's children, by id, one more than the page. */
export async function selectChildPage(
  prisma: Prisma.TransactionClient,
  ledger: { id: string; rootLedgerId: string },
  page: Page,
): Promise<Ledger[]> {
  const rows = await prisma.ledger.findMany({
    where: {
      rootLedgerId: ledger.rootLedgerId,
      parentId: ledger.id,
      ...(page.after ? { id: { gt: page.after } } : {}),
    },
    orderBy: { id: 'asc' },
    take: page.size + 1,
  });
  return rows.map(toLedger);
}

/** Per-asset totals of each ledger's subtree, for many ledgers of one tree in one statement. */
export async function selectSubtreeBalances(
  reader: Reader,
  rootLedgerId: string,
  ledgerIds: string[],
): Promise<Array<LedgerBalance & { ledgerId: string }>> {
  const { rows } = await reader.query<{
    ledger_id: string;
    root_ledger_id: string;
    asset_id: string;
    dp: string;
    cp: string;
    dpe: string;
    cpe: string;
  }>(
    `SELECT q.id AS ledger_id, b.root_ledger_id, b.asset_id,
            sum(b.debits_posted)::text AS dp, sum(b.credits_posted)::text AS cp,
            sum(b.debits_pending)::text AS dpe, sum(b.credits_pending)::text AS cpe
       FROM unnest($2::uuid[]) AS q(id)
       JOIN ledgers d ON d.root_ledger_id = $1 AND d.path @> ARRAY[q.id]
       JOIN balances b ON b.root_ledger_id = d.root_ledger_id AND b.ledger_id = d.id
      GROUP BY q.id, b.root_ledger_id, b.asset_id
      ORDER BY q.id, b.asset_id`,
    [rootLedgerId, ledgerIds],
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
