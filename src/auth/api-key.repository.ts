import type pg from 'pg';
import type { Prisma } from '../generated/prisma/client.js';

/**
 * SQL for API keys. The lookup every authenticated request makes is one named prepared statement
 * through pg, no ORM; creating, finding and revoking a key go through Prisma. Every function takes the
 * pool, Prisma, or a transaction's client.
 */

/** A key as it is shown (never its digest). */
export type ApiKeyRow = { id: string; name: string; role: string; rootLedgerId: string | null; ledgerId: string | null; createdAt: Date; revokedAt: Date | null };

/** What verifying a secret needs of its key. */
export type KeyForAuth = { id: string; role: string; rootLedgerId: string | null; ledgerId: string | null; secretHash: string; revokedAt: Date | null };

export async function selectKeyForAuth(reader: pg.Pool | pg.PoolClient, id: string): Promise<KeyForAuth | null> {
  const { rows } = await reader.query<KeyForAuth>({
    name: 'api_key_for_auth',
    text: `SELECT id, role::text AS role, root_ledger_id AS "rootLedgerId", ledger_id AS "ledgerId", secret_hash AS "secretHash", revoked_at AS "revokedAt"
             FROM api_keys WHERE id = $1`,
    values: [id],
  });
  return rows[0] ?? null;
}

export function insertApiKey(tx: Prisma.TransactionClient, data: Prisma.ApiKeyUncheckedCreateInput): Promise<ApiKeyRow> {
  return tx.apiKey.create({ data });
}

export function selectApiKey(prisma: Prisma.TransactionClient, id: string): Promise<ApiKeyRow | null> {
  return prisma.apiKey.findUnique({ where: { id } });
}

export function updateApiKeyRevokedAt(tx: Prisma.TransactionClient, id: string, revokedAt: Date): Promise<ApiKeyRow> {
  return tx.apiKey.update({ where: { id }, data: { revokedAt } });
}
