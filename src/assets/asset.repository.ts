import type pg from 'pg';
import type { Prisma } from '../generated/prisma/client.js';
import { Asset, AssetKind } from './asset.types.js';
import { policyOfColumns, type ExpiryPolicyColumns } from './expiry-policy.core.js';

/**
 * SQL for assets: reads by id, code or root are named prepared statements through pg (the posting path
 * resolves asset codes); creation goes through Prisma. Every function takes the pool, Prisma, or a
 * transaction's client.
 */
type Reader = pg.Pool | pg.PoolClient;

type AssetRow = {
  id: string;
  rootLedgerId: string;
  code: string;
  name: string;
  kind: string;
  scale: number;
} & ExpiryPolicyColumns;

const ASSET_COLUMNS = `s.id, s.root_ledger_id AS "rootLedgerId", s.code, s.name, s.kind::text AS kind, s.scale, s.expires_after_days AS "expiresAfterDays",
  s.expiry_kind AS "expiryKind", s.expiry_period AS "expiryPeriod", s.expiry_periods AS "expiryPeriods",
  s.expiry_time_zone AS "expiryTimeZone"`;

function toAsset(row: AssetRow): Asset {
  return Object.assign(new Asset(), {
    id: row.id,
    rootLedgerId: row.rootLedgerId,
    code: row.code,
    name: row.name,
    kind: row.kind as AssetKind,
    scale: row.scale,
    expiryPolicy: policyOfColumns(row),
  });
}

export async function insertAsset(
  tx: Prisma.TransactionClient,
  data: Prisma.AssetUncheckedCreateInput,
): Promise<Asset> {
  return toAsset(await tx.asset.create({ data }));
}

/** Assets of one tree by id. */
export async function selectAssets(reader: Reader, rootLedgerId: string, ids: string[]): Promise<Asset[]> {
  const { rows } = await reader.query<AssetRow>({
    name: 'assets_by_ids',
    text: `SELECT ${ASSET_COLUMNS} FROM assets s WHERE s.root_ledger_id = $1 AND s.id = ANY($2::uuid[])`,
    values: [rootLedgerId, ids],
  });
  return rows.map(toAsset);
}

export async function selectAssetsOfRoots(reader: Reader, rootLedgerIds: string[]): Promise<Asset[]> {
  const { rows } = await reader.query<AssetRow>({
    name: 'assets_of_roots',
    text: `SELECT ${ASSET_COLUMNS} FROM assets s WHERE s.root_ledger_id = ANY($1::uuid[]) ORDER BY s.code`,
    values: [rootLedgerIds],
  });
  return rows.map(toAsset);
}

export async function selectAssetsByCodes(reader: Reader, rootLedgerId: string, codes: string[]): Promise<Asset[]> {
  const { rows } = await reader.query<AssetRow>({
    name: 'assets_by_codes',
    text: `SELECT ${ASSET_COLUMNS} FROM assets s WHERE s.root_ledger_id = $1 AND s.code = ANY($2::text[])`,
    values: [rootLedgerId, codes],
  });
  return rows.map(toAsset);
}
