import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { RESPONSE_BODY_BYTES_MAX, type AttemptOutcome } from './retry.core.js';
import type { SignedRequest } from './signing.core.js';

/**
 * What the sender needs from the network guard (network-guard.ts, bounded-response.ts): passed in, so the
 * address policy lives in one place and tests of the sender choose theirs.
 */
export interface WebhookNetwork {
  /** Refuses what may never be a target (not http(s), credentials in the URL, bad syntax): BAD_USER_INPUT. */
  parseUrl(raw: string): URL;
  /** Resolves a target host and refuses forbidden addresses at connect time (DNS rebinding). */
  lookup: net.LookupFunction;
  /** Reads at most `maxBytes` of a response body. */
  readBounded(res: http.IncomingMessage, maxBytes: number): Promise<string>;
}

/**
 * One POST per attempt. Redirects are never followed (node:http does not, and a 3xx is classified as a
 * failure), the whole attempt is bounded by `timeoutMs`, and the response body is read bounded. Nothing
 * of the request (its signature header) is ever logged.
 */
export class WebhookSender {
  private readonly active = new Set<http.ClientRequest>();
  private closed = false;
  // Kept-alive connections per target; each new connection goes through the guarded lookup.
  private readonly agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: 64 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 64 }),
  };

  constructor(
    private readonly network: WebhookNetwork,
    private readonly timeoutMs: number,
  ) {}

  send(rawUrl: string, request: SignedRequest): Promise<AttemptOutcome> {
    let url: URL;
    try {
      url = this.network.parseUrl(rawUrl);
    } catch (error) {
      return Promise.resolve({ kind: 'network', message: `refused target: ${(error as Error).message}` });
    }
    return this.post(url, request, Date.now() + this.timeoutMs, true);
  }

  /**
   * One request, before `deadline`. A kept-alive connection the receiver closed while idle fails at once
   * with ECONNRESET on reuse, in that race before the receiver read anything; it is sent again once on a
   * fresh connection (the pattern Node's documentation gives), so the race costs no attempt; at least once
   * covers a receiver that did read it.
   */
  private post(url: URL, request: SignedRequest, deadline: number, mayResend: boolean): Promise<AttemptOutcome> {
    const secure = url.protocol === 'https:';
    return new Promise<AttemptOutcome>((resolve) => {
      let settled = false;
      const finish = (outcome: AttemptOutcome | Promise<AttemptOutcome>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.active.delete(req);
        resolve(outcome);
      };
      const req = (secure ? https : http).request(url, {
        method: 'POST',
        agent: secure ? this.agents.https : this.agents.http,
        lookup: this.network.lookup,
        headers: { ...request.headers, 'content-length': Buffer.byteLength(request.body) },
      });
      this.active.add(req);
      const timer = setTimeout(
        () => {
          finish({ kind: 'timeout' });
          req.destroy();
        },
        Math.max(0, deadline - Date.now()),
      );
      req.on('error', (error: Error & { code?: string }) => {
        if (mayResend && req.reusedSocket && error.code === 'ECONNRESET' && !this.closed) {
          finish(this.post(url, request, deadline, false));
        } else {
          finish({ kind: 'network', message: describeNetworkError(error) });
        }
      });
      req.on('response', (res) => {
        const retryAfter = res.headers['retry-after'] ?? null;
        this.network.readBounded(res, RESPONSE_BODY_BYTES_MAX).then(
          (body) => finish({ kind: 'response', status: res.statusCode ?? 0, retryAfter, body }),
          // An oversized or broken body does not change what the status said.
          () => {
            res.destroy();
            finish({ kind: 'response', status: res.statusCode ?? 0, retryAfter, body: '' });
          },
        );
      });
      req.end(request.body);
    });
  }

  /** Aborts attempts in flight (their claims run out and are retried) and closes kept-alive connections. */
  close(): void {
    this.closed = true;
    for (const req of this.active) req.destroy(new Error('the server is stopping'));
    this.active.clear();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

function describeNetworkError(error: Error & { code?: string }): string {
  return error.code ? `${error.code}: ${error.message}` : error.message;
}
