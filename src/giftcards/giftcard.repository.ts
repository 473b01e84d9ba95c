import type pg from 'pg';
import { FAILED_ATTEMPTS_MAX } from './giftcard.core.js';

/**
 * All of gift cards' SQL, raw through pg (the Prisma model only describes the table): the card and its
 * account are written inside the issuing posting's transaction, and every PIN check is one statement.
 */
type Reader = pg.Pool | pg.PoolClient;

export type GiftCardStatus = 'ACTIVE' | 'LOCKED' | 'CLOSED';

export interface GiftCardRow {
  id: string;
  rootLedgerId: string;
  ledgerId: string;
  accountId: string;
  assetId: string;
  pinHash: string;
  last4: string;
  status: GiftCardStatus;
  failedAttempts: number;
  expiresAt: Date | null;
  idempotencyKey: string;
  requestHash: string;
}

const CARD_COLUMNS = `c.id, c.root_ledger_id AS "rootLedgerId", c.ledger_id AS "ledgerId", c.account_id AS "accountId",
  c.asset_id AS "assetId", c.pin_hash AS "pinHash", c.last4, c.status, c.failed_attempts AS "failedAttempts",
  c.expires_at AS "expiresAt", c.idempotency_key AS "idempotencyKey", c.request_hash AS "requestHash"`;

/** No card has this id: a wrong code runs the same statement as a wrong PIN, against nothing. */
const NO_CARD = '00000000-0000-0000-0000-000000000000';

export async function insertCardAccount(
  client: pg.PoolClient,
  account: { id: string; rootLedgerId: string; ledgerId: string; code: string; name: string; cardId: string },
): Promise<void> {
  await client.query(
    `INSERT INTO accounts (id, root_ledger_id, ledger_id, code, name, normal_balance, allow_overdraft, overdraft_limit, is_system, metadata)
     VALUES ($1, $2, $3, $4, $5, 'CREDIT', false, NULL, false, jsonb_build_object('giftCardId', $6::text))`,
    [account.id, account.rootLedgerId, account.ledgerId, account.code, account.name, account.cardId],
  );
}

export async function insertGiftCard(
  client: pg.PoolClient,
  card: Omit<GiftCardRow, 'status' | 'failedAttempts'> & { codeDigest: Buffer },
): Promise<void> {
  // The global code first: its primary key is what keeps a code unique across trees.
  await client.query('INSERT INTO gift_card_codes (code_digest, root_ledger_id, gift_card_id) VALUES ($1, $2, $3)', [
    card.codeDigest,
    card.rootLedgerId,
    card.id,
  ]);
  await client.query(
    `INSERT INTO gift_cards (id, root_ledger_id, ledger_id, account_id, asset_id, code_digest, pin_hash, last4, expires_at,
                             idempotency_key, request_hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [
      card.id,
      card.rootLedgerId,
      card.ledgerId,
      card.accountId,
      card.assetId,
      card.codeDigest,
      card.pinHash,
      card.last4,
      card.expiresAt,
      card.idempotencyKey,
      card.requestHash,
    ],
  );
}

export async function selectCardByDigest(reader: Reader, digest: Buffer): Promise<GiftCardRow | null> {
  const { rows } = await reader.query<GiftCardRow>({
    name: 'gift_card_by_digest',
    // The root comes from the global code table, so the card is read on its own root's shard.
    text: `SELECT ${CARD_COLUMNS} FROM gift_card_codes k
             JOIN gift_cards c ON c.root_ledger_id = k.root_ledger_id AND c.id = k.gift_card_id
            WHERE k.code_digest = $1`,
    values: [digest],
  });
  return rows[0] ?? null;
}

export async function selectCardById(reader: Reader, rootLedgerId: string, id: string): Promise<GiftCardRow | null> {
  const { rows } = await reader.query<GiftCardRow>({
    name: 'gift_card_by_id',
    text: `SELECT ${CARD_COLUMNS} FROM gift_cards c WHERE c.root_ledger_id = $1 AND c.id = $2`,
    values: [rootLedgerId, id],
  });
  return rows[0] ?? null;
}

export async function selectCardByKey(
  reader: Reader,
  rootLedgerId: string,
  idempotencyKey: string,
): Promise<GiftCardRow | null> {
  const { rows } = await reader.query<GiftCardRow>({
    name: 'gift_card_by_key',
    text: `SELECT ${CARD_COLUMNS} FROM gift_cards c WHERE c.root_ledger_id = $1 AND c.idempotency_key = $2`,
    values: [rootLedgerId, idempotencyKey],
  });
  return rows[0] ?? null;
}

/**
 * Counts one wrong PIN, and locks the card when it is the fifth in a row, in one statement. It matches
 * only an ACTIVE card, and concurrent ones queue on the row and see each other's count, so exactly five
 * are counted however many arrive at once. Null when nothing was counted (the card was locked already).
 */
export async function recordWrongPin(
  reader: Reader,
  card: { rootLedgerId: string; id: string } | null,
): Promise<{ failedAttempts: number; status: GiftCardStatus } | null> {
  const { rows } = await reader.query<{ failedAttempts: number; status: GiftCardStatus }>({
    name: 'gift_card_wrong_pin',
    text: `UPDATE gift_cards SET failed_attempts = failed_attempts + 1,
             status = CASE WHEN failed_attempts + 1 >= $3 THEN 'LOCKED' ELSE status END,
             updated_at = now()
           WHERE root_ledger_id = $1 AND id = $2 AND status = 'ACTIVE'
           RETURNING failed_attempts AS "failedAttempts", status`,
    values: [card?.rootLedgerId ?? NO_CARD, card?.id ?? NO_CARD, FAILED_ATTEMPTS_MAX],
  });
  return rows[0] ?? null;
}

/** A right PIN ends the run of wrong ones (only on an ACTIVE card: a lock stays until an ADMIN lifts it). */
export async function resetFailedAttempts(reader: Reader, card: { rootLedgerId: string; id: string }): Promise<void> {
  await reader.query({
    name: 'gift_card_right_pin',
    text: `UPDATE gift_cards SET failed_attempts = 0, updated_at = now()
           WHERE root_ledger_id = $1 AND id = $2 AND status = 'ACTIVE' AND failed_attempts > 0`,
    values: [card.rootLedgerId, card.id],
  });
}

/** The card under its row lock, for a redemption to decide on inside its posting's transaction. */
export async function lockCard(
  client: pg.PoolClient,
  card: { rootLedgerId: string; id: string },
): Promise<GiftCardRow> {
  const { rows } = await client.query<GiftCardRow>(
    `SELECT ${CARD_COLUMNS} FROM gift_cards c WHERE c.root_ledger_id = $1 AND c.id = $2 FOR UPDATE`,
    [card.rootLedgerId, card.id],
  );
  return rows[0]!;
}

export async function unlockCard(
  client: pg.PoolClient,
  card: { rootLedgerId: string; id: string },
): Promise<GiftCardRow> {
  const { rows } = await client.query<GiftCardRow>(
    `UPDATE gift_cards c SET status = 'ACTIVE', failed_attempts = 0, updated_at = now()
     WHERE c.root_ledger_id = $1 AND c.id = $2 AND c.status = 'LOCKED'
     RETURNING ${CARD_COLUMNS}`,
    [card.rootLedgerId, card.id],
  );
  return rows[0] ?? (await selectCardById(client, card.rootLedgerId, card.id))!;
}
