import { UnauthenticatedError } from '../platform/errors.js';
import type { ApiKeyService } from './api-key.service.js';
import { looksLikeToken, type CustomerTokenService } from './customer-token.service.js';
import type { Principal } from '../authorization/access.core.js';

/** Long enough for a customer token (about 400 characters) with room to spare; anything longer is junk. */
const BEARER_LENGTH_MAX = 1024;

/**
 * One entry point for every transport: an `Authorization` value (HTTP header, or the WebSocket
 * connection_init payload) becomes a principal, or UNAUTHENTICATED. Customer tokens are told from API
 * key secrets by shape alone, before any lookup (a hand-set ADMIN_API_KEY of the same shape still counts
 * as the admin key).
 */
export class Authenticator {
  constructor(
    private readonly apiKeys: ApiKeyService,
    private readonly customerTokens: CustomerTokenService,
  ) {}

  async authenticate(authorization: string | undefined): Promise<Principal> {
    if (authorization === undefined || authorization === '') throw new UnauthenticatedError('missing credentials: send Authorization: Bearer <secret>');
    const match = /^Bearer ([\x21-\x7e]+)$/.exec(authorization);
    if (match === null || authorization.length > BEARER_LENGTH_MAX) throw new UnauthenticatedError('malformed Authorization header: expected "Bearer <secret>"');
    const bearer = match[1]!;
    return looksLikeToken(bearer) && !this.apiKeys.isBootstrapSecret(bearer) ? this.customerTokens.verify(bearer) : this.apiKeys.verifySecret(bearer);
  }
}
