import { type JWTPayload, SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import type { Database } from '../platform/db.js';
import { BadInputError, ForbiddenError, NotFoundError, UnauthenticatedError } from '../platform/errors.js';
import { isUuid } from '../platform/ids.js';
import { requireId } from '../platform/validation.js';
import { insertAuditEvent } from '../audit/audit.repository.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import type { Account } from '../accounts/account.types.js';
import type { AccountService } from '../accounts/account.service.js';
import type { LedgerService } from '../ledgers/ledger.service.js';
import { authorize, ledgerPlacement, requireReach, type Principal } from '../authorization/access.core.js';

/**
 * Customer tokens: short-lived HS256 JWTs minted by a server key for one account, so that a web or mobile
 * frontend can read that account and follow its balance without holding an API key. They are stateless:
 * nothing is stored, so a token cannot be revoked one by one; its short life is the bound.
 */
export const CUSTOMER_TOKEN_TTL_SECONDS_DEFAULT = 900;
export const CUSTOMER_TOKEN_TTL_SECONDS_MAX = 86_400;
const TTL_SECONDS_MIN = 1;

const ISSUER = 'reward-ledger';
const AUDIENCE = 'reward-ledger:customer';
/** The only algorithm accepted: a token naming another (`none`, RS256 with our secret as a key) is refused. */
const ALGORITHM = 'HS256';

/** A JWS in compact form: three base64url parts. API key secrets never contain a dot. */
export function looksLikeToken(bearer: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(bearer);
}

export interface MintedToken {
  token: string;
  expiresAt: Date;
  account: Account;
}

export class CustomerTokenService {
  private readonly key: Uint8Array | null;

  constructor(
    private readonly db: Database,
    private readonly ledgers: LedgerService,
    private readonly accounts: AccountService,
    secret: string | undefined,
  ) {
    this.key = secret === undefined ? null : new TextEncoder().encode(secret);
  }

  get enabled(): boolean {
    return this.key !== null;
  }

  /** OPERATOR or ADMIN, within the account's ledger scope; never for a system account. */
  async create(origin: RequestOrigin, accountId: string, ttlSeconds: number = CUSTOMER_TOKEN_TTL_SECONDS_DEFAULT): Promise<MintedToken> {
    authorize(origin.principal, 'createCustomerToken');
    if (this.key === null) throw new ForbiddenError('customer tokens are off on this server: it has no TOKEN_SECRET');
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < TTL_SECONDS_MIN || ttlSeconds > CUSTOMER_TOKEN_TTL_SECONDS_MAX) {
      throw new BadInputError(`ttlSeconds must be an integer from ${TTL_SECONDS_MIN} to ${CUSTOMER_TOKEN_TTL_SECONDS_MAX}; got ${ttlSeconds}`);
    }
    const account = await this.accounts.findById(requireId(accountId, 'accountId'));
    if (account === null) throw new NotFoundError(`account ${accountId} does not exist`);
    const ledger = await this.ledgers.findById(account.ledgerId);
    requireReach(origin.principal, ledgerPlacement(ledger!), `account ${account.code}`);
    if (account.isSystem) throw new BadInputError('customer tokens are for customer accounts, not system accounts');

    const issuedAtSeconds = Math.floor(Date.now() / 1000);
    const expiresAtSeconds = issuedAtSeconds + ttlSeconds;
    const token = await new SignJWT({ rl: account.rootLedgerId, lg: account.ledgerId })
      .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(account.id)
      .setIssuedAt(issuedAtSeconds)
      .setExpirationTime(expiresAtSeconds)
      .sign(this.key);
    await insertAuditEvent(this.db.prisma, auditEvent(origin, 'createCustomerToken', account.rootLedgerId, [account.id]));
    return { token, expiresAt: new Date(expiresAtSeconds * 1000), account };
  }

  /** Turns a token into a customer principal, or refuses with UNAUTHENTICATED (expired, forged, malformed). */
  async verify(token: string): Promise<Principal> {
    if (this.key === null) throw new UnauthenticatedError('customer tokens are not accepted by this server');
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, this.key, {
        algorithms: [ALGORITHM],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ['sub', 'exp', 'iat'],
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new UnauthenticatedError('the customer token has expired; mint a new one');
      throw new UnauthenticatedError('invalid customer token');
    }
    const { sub, rl, lg, exp, iat } = claims;
    if (typeof sub !== 'string' || typeof rl !== 'string' || typeof lg !== 'string' || !isUuid(sub) || !isUuid(rl) || !isUuid(lg)) {
      throw new UnauthenticatedError('invalid customer token');
    }
    // This server never signs a longer-lived token; one that claims more was not made here.
    if (typeof exp !== 'number' || typeof iat !== 'number' || exp - iat > CUSTOMER_TOKEN_TTL_SECONDS_MAX) {
      throw new UnauthenticatedError('invalid customer token');
    }
    return {
      actorId: sub,
      actorType: 'customer_token',
      role: 'CUSTOMER',
      scope: { rootLedgerId: rl, ledgerId: lg },
      account: { rootLedgerId: rl, ledgerId: lg, accountId: sub },
      expiresAt: new Date(exp * 1000),
    };
  }
}
