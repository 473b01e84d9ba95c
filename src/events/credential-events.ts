/**
 * What the credential services announce after commit, so that open WebSocket connections authenticated
 * by a credential end when it stops being valid, on every instance.
 */
export interface CredentialEvents {
  /** Called once per revoked API key, after COMMIT; must not throw into the caller. */
  apiKeyRevoked(keyId: string): void;
}

export const unobservedCredentialEvents: CredentialEvents = { apiKeyRevoked: () => undefined };
