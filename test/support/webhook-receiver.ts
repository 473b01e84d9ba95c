import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/**
 * A partner's webhook receiver for tests: a real HTTP server on 127.0.0.1 that records every request and
 * answers as the test programs it (a status, a delay, a dropped connection, or going dark for a while and
 * coming back on the same port). Signatures are checked with `standardwebhooks`, the reference
 * implementation, never with the server's own signing code.
 */

export interface ReceivedWebhook {
  /** Arrival order over the whole receiver, from 1. */
  index: number;
  /** Arrival order among requests to the same path, from 1. */
  pathIndex: number;
  method: string;
  /** The request target's path (query string dropped). */
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The body exactly as received: what the signature covers. */
  body: string;
  /** Date.now() when the body had arrived. */
  receivedAt: number;
  /** The `webhook-id` header. */
  id: string | undefined;
  /** The secrets trusted for this path (`trust`) whose signature the request carries, in trust order. */
  verifiedWith: string[];
  /**
   * How the receiver answered: an HTTP status, or what it did instead. `aborted`: an HTTP answer was due but
   * the sender had gone (its timeout, or its process killed), so the sender never saw it.
   */
  answer: number | 'destroyed' | 'dark' | 'aborted';
  /**
   * For an HTTP answer: whether all of it was handed to the connection before it closed. False when the
   * sender hung up mid-answer (a bounded reader cutting a huge body short); undefined until it is known.
   * The kernel's socket buffers take tens of MB on loopback, so only a body larger than that tells.
   */
  answerFinished?: boolean;
  /** For a streamed answer (`streamBytes`): how many body bytes went out before the connection closed. */
  answerBytesWritten?: number;
}

export type Answer =
  /**
   * An HTTP answer, after `delayMs` if given. `streamBytes` sends a body of that many bytes instead of
   * `body`, written as the connection takes it, so a huge answer costs the receiver no memory.
   */
  | { status: number; body?: string; streamBytes?: number; headers?: Record<string, string>; delayMs?: number }
  /** Drops the connection without answering. */
  | { destroy: true }
  /** Drops every connection and stops listening for `darkMs`, then listens again on the same port. */
  | { darkMs: number };

export type Responder = (request: ReceivedWebhook) => Answer | Promise<Answer>;

export interface WebhookReceiver {
  port: number;
  /** The URL of `path` on this receiver (e.g. `/partner-a`), to register as an endpoint. */
  url(path?: string): string;
  /** Every request so far, in arrival order. */
  readonly requests: readonly ReceivedWebhook[];
  /** The requests to one path. */
  requestsTo(path: string): ReceivedWebhook[];
  /** Replaces the responder; the default answers 200 to everything. */
  respond(responder: Responder): void;
  /** Adds a secret (`whsec_…`) that signs requests to `path`; later requests record whether it verified. */
  trust(path: string, secret: string): void;
  /** Verifies one request with `secret` through `standardwebhooks`; returns the parsed payload or throws. */
  verify(request: ReceivedWebhook, secret: string): unknown;
  /** Stops listening (and drops every connection) for `ms`, then listens again on the same port. */
  goDark(ms: number): Promise<void>;
  /** Resolves with the requests once `predicate` holds for them; rejects after `timeoutMs` saying how many came. */
  waitFor(
    predicate: (requests: readonly ReceivedWebhook[]) => boolean,
    timeoutMs: number,
  ): Promise<readonly ReceivedWebhook[]>;
  close(): Promise<void>;
}

const OK: Answer = { status: 200, body: 'ok' };

export async function startWebhookReceiver(responder: Responder = () => OK): Promise<WebhookReceiver> {
  const requests: ReceivedWebhook[] = [];
  const perPath = new Map<string, number>();
  let arrived = 0;
  const secrets = new Map<string, string[]>();
  const waiters = new Set<() => void>();
  let respond = responder;
  let closed = false;
  let dark: Promise<void> | null = null;
  let darkTimer: NodeJS.Timeout | undefined;

  const signedWith = (secret: string, headers: http.IncomingHttpHeaders, body: string): boolean => {
    try {
      new Webhook(secret).verify(body, headers as Record<string, string>);
      return true;
    } catch {
      return false;
    }
  };

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        arrived += 1;
        const path = new URL(request.url ?? '/', 'http://receiver').pathname;
        const body = Buffer.concat(chunks).toString('utf8');
        const pathIndex = (perPath.get(path) ?? 0) + 1;
        perPath.set(path, pathIndex);
        const received: ReceivedWebhook = {
          index: arrived,
          pathIndex,
          method: request.method ?? '',
          path,
          headers: request.headers,
          body,
          receivedAt: Date.now(),
          id: request.headers['webhook-id'] as string | undefined,
          verifiedWith: (secrets.get(path) ?? []).filter((secret) => signedWith(secret, request.headers, body)),
          answer: 'destroyed',
        };
        let answer: Answer;
        try {
          answer = await respond(received);
        } catch (error) {
          answer = { status: 599, body: `responder failed: ${String(error)}` };
        }
        if ('destroy' in answer) {
          received.answer = 'destroyed';
          request.socket.destroy();
        } else if ('darkMs' in answer) {
          received.answer = 'dark';
          request.socket.destroy();
          void goDark(answer.darkMs);
        } else {
          if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
          if (response.destroyed || request.socket.destroyed) {
            received.answer = 'aborted';
          } else {
            received.answer = answer.status;
            response.once('close', () => (received.answerFinished = response.writableFinished));
            if (answer.streamBytes === undefined) {
              response.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
              response.end(answer.body ?? '');
            } else {
              response.writeHead(answer.status, {
                'content-type': 'text/plain',
                'content-length': String(answer.streamBytes),
                ...answer.headers,
              });
              stream(response, answer.streamBytes, received);
            }
          }
        }
        requests.push(received);
        for (const wake of waiters) wake();
      })();
    });
  });

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });

  await listen(0);
  const port = (server.address() as AddressInfo).port;

  function goDark(ms: number): Promise<void> {
    if (dark !== null) return dark;
    server.close();
    server.closeAllConnections();
    dark = new Promise<void>((resolve) => {
      darkTimer = setTimeout(async function relisten() {
        if (closed) return resolve();
        try {
          await listen(port);
          dark = null;
          resolve();
        } catch {
          // The port can be briefly held by a socket the kernel is still closing; try again shortly.
          darkTimer = setTimeout(relisten, 50);
        }
      }, ms);
    });
    return dark;
  }

  return {
    port,
    url: (path = '/') => `http://127.0.0.1:${port}${path}`,
    requests,
    requestsTo: (path) => requests.filter((request) => request.path === path),
    respond(next) {
      respond = next;
    },
    trust(path, secret) {
      secrets.set(path, [...(secrets.get(path) ?? []), secret]);
    },
    verify: (request, secret) => new Webhook(secret).verify(request.body, request.headers as Record<string, string>),
    goDark,
    waitFor(predicate, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(requests)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(requests);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`webhook receiver: condition not met after ${timeoutMs} ms (${requests.length} requests)`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      closed = true;
      clearTimeout(darkTimer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
    },
  };
}

const STREAM_CHUNK = Buffer.alloc(64 * 1024, 'x');

/** Writes `bytes` bytes of 'x', waiting for the connection to drain, and stops when it closes. */
function stream(response: http.ServerResponse, bytes: number, received: ReceivedWebhook): void {
  received.answerBytesWritten = 0;
  const pump = () => {
    while (received.answerBytesWritten! < bytes && !response.destroyed) {
      const part = STREAM_CHUNK.subarray(0, Math.min(STREAM_CHUNK.length, bytes - received.answerBytesWritten!));
      received.answerBytesWritten! += part.length;
      if (!response.write(part)) return void response.once('drain', pump);
    }
    if (!response.destroyed) response.end();
  };
  pump();
}

/** The distinct `webhook-id`s among `requests` that were answered with a 2xx. */
export function deliveredIds(requests: readonly ReceivedWebhook[]): Set<string> {
  return new Set(
    requests
      .filter((request) => typeof request.answer === 'number' && request.answer >= 200 && request.answer < 300)
      .map((request) => request.id)
      .filter((id): id is string => id !== undefined),
  );
}
