import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Database } from '../platform/db.js';
import { NotFoundError, UnauthenticatedError } from '../platform/errors.js';
import { isUuid, newId } from '../platform/ids.js';
import { requireId, requireName } from '../platform/validation.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import type { LedgerService } from '../ledgers/ledger.service.js';
import {
  authorize,
  ledgerPlacement,
  requireCanGrant,
  requireCanManageKey,
  type Principal,
  type Role,
} from '../authorization/access.core.js';
import { unobservedCredentialEvents, type CredentialEvents } from '../events/credential-events.js';
import { insertAuditEvent } from '../audit/audit.repository.js';
import {
  insertApiKey,
  selectApiKey,
  selectKeyForAuth,
  updateApiKeyRevokedAt,
  type ApiKeyRow,
} from './api-key.repository.js';
import { ApiKey, ApiKeyRole, CreatedApiKey } from './api-key.types.js';

/**
 * Secrets look like `rlk_<key id hex>_<43 random base64url chars>`. The id locates the row; the whole
 * secret is compared by sha256 digest in constant time. Only the digest is stored.
 */
const SECRET_PATTERN = /^rlk_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

function toApiKey(row: ApiKeyRow): ApiKey {
  return Object.assign(new ApiKey(), { ...row, role: row.role as ApiKeyRole });
}

function hexToUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Bounds the verified-key cache; a clear on overflow only costs one lookup per key. */
const VERIFIED_CACHE_MAX = 10_000;

export class ApiKeyService {
  private readonly bootstrapDigest: Buffer | null;
  /**
   * Keys verified in the last `verifiedCacheMs`, by secret digest. Every request authenticates, so
   * without it each one starts with a lookup. A revocation on this instance evicts the key at once;
   * another instance honours it within `verifiedCacheMs`.
   */
  private readonly verified = new Map<string, { principal: Principal; until: number }>();

  constructor(
    private readonly db: Database,
    private readonly ledgers: LedgerService,
    bootstrapAdminKey: string | undefined,
    private readonly events: CredentialEvents = unobservedCredentialEvents,
    private readonly verifiedCacheMs = 0,
  ) {
    this.bootstrapDigest = bootstrapAdminKey ? digest(bootstrapAdminKey) : null;
  }

  /** Whether the bearer is the bootstrap admin secret (which, set by hand, may look like anything). */
  isBootstrapSecret(secret: string): boolean {
    return this.bootstrapDigest !== null && timingSafeEqual(digest(secret), this.bootstrapDigest);
  }

  /** Turns an API key secret (the bearer value) into a principal, or refuses with UNAUTHENTICATED. */
  async verifySecret(secret: string): Promise<Principal> {
    const candidate = digest(secret);
    if (this.bootstrapDigest !== null && timingSafeEqual(candidate, this.bootstrapDigest)) {
      return { actorId: 'bootstrap-admin', actorType: 'bootstrap', role: 'ADMIN', scope: null };
    }
    const parsed = SECRET_PATTERN.exec(secret);
    if (parsed === null) throw new UnauthenticatedError('invalid credentials');
    const cacheKey = this.verifiedCacheMs > 0 ? candidate.toString('hex') : null;
    if (cacheKey !== null) {
      const hit = this.verified.get(cacheKey);
      if (hit !== undefined && hit.until > Date.now()) return hit.principal;
    }
    // Every request with an API key runs this lookup: one named prepared statement, no ORM.
    const row = await selectKeyForAuth(this.db.pool, hexToUuid(parsed[1]!));
    if (row === null || !timingSafeEqual(candidate, Buffer.from(row.secretHash, 'hex')))
      throw new UnauthenticatedError('invalid credentials');
    if (row.revokedAt !== null) throw new UnauthenticatedError('this API key has been revoked');
    const principal: Principal = {
      actorId: row.id,
      actorType: 'api_key',
      role: row.role as Role,
      scope:
        row.rootLedgerId !== null && row.ledgerId !== null
          ? { rootLedgerId: row.rootLedgerId, ledgerId: row.ledgerId }
          : null,
    };
    if (cacheKey !== null) {
      if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.clear();
      this.verified.set(cacheKey, { principal, until: Date.now() + this.verifiedCacheMs });
    }
    return principal;
  }

  async create(
    origin: RequestOrigin,
    input: { name: string; role: ApiKeyRole; ledgerId?: string | null },
  ): Promise<CreatedApiKey> {
    authorize(origin.principal, 'createApiKey');
    let ledger = null;
    if (input.ledgerId != null) {
      // The only guard that the scope ledger exists: api_keys is global and has no foreign key into the
      // tenant tables (migration 20261207040000_citus_routable_keys).
      ledger = await this.ledgers.findById(requireId(input.ledgerId, 'ledgerId'));
      if (ledger === null) throw new NotFoundError(`ledger ${input.ledgerId} does not exist`);
    }
    requireCanGrant(origin.principal, input.role, ledger && ledgerPlacement(ledger));

    const id = newId();
    const secret = `rlk_${id.replace(/-/g, '')}_${randomBytes(32).toString('base64url')}`;
    const row = await this.db.prisma.$transaction(async (tx) => {
      const created = await insertApiKey(tx, {
        id,
        name: requireName(input.name),
        role: input.role,
        rootLedgerId: ledger?.rootLedgerId ?? null,
        ledgerId: ledger?.id ?? null,
        secretHash: digest(secret).toString('hex'),
        createdByKeyId: origin.principal.actorType === 'api_key' ? origin.principal.actorId : null,
      });
      await insertAuditEvent(tx, auditEvent(origin, 'createApiKey', ledger?.rootLedgerId ?? null, [id]));
      return created;
    });
    return Object.assign(new CreatedApiKey(), { apiKey: toApiKey(row), secret });
  }

  async revoke(origin: RequestOrigin, id: string): Promise<ApiKey> {
    authorize(origin.principal, 'revokeApiKey');
    const keyId = requireId(id, 'id');
    const existing = isUuid(keyId) ? await selectApiKey(this.db.prisma, keyId) : null;
    if (existing === null) throw new NotFoundError(`API key ${id} does not exist`);
    // A scoped key's ledger exists: create checked it and ledgers are never deleted.
    const ledger =
      existing.ledgerId === null || existing.rootLedgerId === null
        ? null
        : (await this.ledgers.findById(existing.ledgerId))!;
    requireCanManageKey(origin.principal, ledger && ledgerPlacement(ledger));
    const row = await this.db.prisma.$transaction(async (tx) => {
      const updated = await updateApiKeyRevokedAt(tx, keyId, existing.revokedAt ?? new Date());
      await insertAuditEvent(tx, auditEvent(origin, 'revokeApiKey', existing.rootLedgerId, [keyId]));
      return updated;
    });
    for (const [cached, entry] of this.verified) {
      if (entry.principal.actorId === keyId) this.verified.delete(cached);
    }
    this.events.apiKeyRevoked(keyId);
    return toApiKey(row);
  }
}
