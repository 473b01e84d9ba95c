import type { Database } from '../platform/db.js';
import { BadInputError, NotFoundError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { requireId, requireName, requirePattern } from '../platform/validation.js';
import { authorize, ledgerPlacement, requireReach } from '../authorization/access.core.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import type { LedgerService } from '../ledgers/ledger.service.js';
import { insertAuditEvent } from '../audit/audit.repository.js';
import { insertAsset, selectAssets, selectAssetsByCodes, selectAssetsOfRoots } from './asset.repository.js';
import type { Asset, AssetKind } from './asset.types.js';
import { assetNotFound } from './asset.core.js';
import { policyColumns, requireExpiryPolicy, type ExpiryPolicyRequest } from './expiry-policy.core.js';

const ASSET_CODE = /^[A-Z][A-Z0-9_]{0,31}$/;
export const SCALE_MAX = 18;

export interface CreateAssetInput {
  ledgerId: string;
  code: string;
  name: string;
  kind: AssetKind;
  scale: number;
  expiresAfterDays?: number | null;
  expiryPolicy?: ExpiryPolicyRequest | null;
}

export class AssetService {
  /**
   * Assets never change once created, so code -> asset lookups on the posting path are cached for the
   * life of the process (bounded; only hits are cached, so a new asset is found at once).
   */
  private readonly byCode = new Map<string, Asset>();
  private readonly byId = new Map<string, Asset>();
  private static readonly CACHE_MAX = 10_000;

  constructor(
    private readonly db: Database,
    private readonly ledgers: LedgerService,
  ) {}

  async create(origin: RequestOrigin, input: CreateAssetInput): Promise<Asset> {
    authorize(origin.principal, 'createAsset');
    const ledger = await this.ledgers.findById(requireId(input.ledgerId, 'ledgerId'));
    if (ledger === null) throw new NotFoundError(`ledger ${input.ledgerId} does not exist`);
    requireReach(origin.principal, ledgerPlacement(ledger), 'the ledger');
    if (ledger.parentId !== null) {
      throw new BadInputError(
        'assets are defined on a root ledger and are usable throughout its tree; pass the root ledger id',
      );
    }
    const code = requirePattern(
      input.code,
      ASSET_CODE,
      'code',
      'must be 1 to 32 upper-case letters, digits or _, starting with a letter',
    );
    if (!Number.isInteger(input.scale) || input.scale < 0 || input.scale > SCALE_MAX) {
      throw new BadInputError(`scale must be an integer from 0 to ${SCALE_MAX}`);
    }
    const expiryPolicy = requireExpiryPolicy(input.expiryPolicy, input.expiresAfterDays);
    const data = {
      id: newId(),
      rootLedgerId: ledger.rootLedgerId,
      ledgerId: ledger.id,
      code,
      name: requireName(input.name),
      kind: input.kind,
      scale: input.scale,
      ...policyColumns(expiryPolicy),
    };
    try {
      return await this.db.prisma.$transaction(async (tx) => {
        const created = await insertAsset(tx, data);
        await insertAuditEvent(tx, auditEvent(origin, 'createAsset', ledger.rootLedgerId, [created.id]));
        return created;
      });
    } catch (error) {
      if ((error as { code?: string }).code === 'P2002')
        throw new BadInputError(`asset ${code} already exists in this ledger tree`);
      throw error;
    }
  }

  /** Assets by id; immutable, so found ones are remembered like the code lookups. */
  async fetchByIds(ids: string[]): Promise<Asset[]> {
    const found: Asset[] = [];
    const missing: string[] = [];
    for (const id of ids) {
      const cached = this.byId.get(id);
      if (cached) found.push(cached);
      else missing.push(id);
    }
    if (missing.length > 0) {
      const read = await this.db.roots.readByRoot('assets', missing, (root, rootIds) =>
        selectAssets(this.db.pool, root, rootIds),
      );
      for (const asset of read) {
        this.remember(asset);
        found.push(asset);
      }
    }
    return found;
  }

  listForRoots(rootLedgerIds: string[]): Promise<Asset[]> {
    return selectAssetsOfRoots(this.db.pool, rootLedgerIds);
  }

  private remember(asset: Asset): void {
    if (this.byCode.size >= AssetService.CACHE_MAX) this.byCode.clear();
    if (this.byId.size >= AssetService.CACHE_MAX) this.byId.clear();
    this.byCode.set(`${asset.rootLedgerId}/${asset.code}`, asset);
    this.byId.set(asset.id, asset);
  }

  /** Resolves asset codes within one tree; unknown codes are ASSET_NOT_FOUND. */
  async requireByCodes(rootLedgerId: string, codes: string[]): Promise<Map<string, Asset>> {
    const found = new Map<string, Asset>();
    const missing: string[] = [];
    for (const code of new Set(codes)) {
      const cached = this.byCode.get(`${rootLedgerId}/${code}`);
      if (cached) found.set(code, cached);
      else missing.push(code);
    }
    if (missing.length > 0) {
      for (const asset of await selectAssetsByCodes(this.db.pool, rootLedgerId, missing)) {
        found.set(asset.code, asset);
        this.remember(asset);
      }
    }
    const unknown = codes.find((code) => !found.has(code));
    if (unknown !== undefined) throw assetNotFound(unknown);
    return found;
  }
}
