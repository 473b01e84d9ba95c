import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { TestServer } from './server';

/**
 * A real graphql-ws client against a test server, with helpers to read a subscription as a queue and to
 * see how the connection ended. Nothing here waits on a clock: every wait ends on an event, and jest's
 * test timeout is the only bound.
 */
export interface Closed {
  code: number;
  reason: string;
}

export interface TestClient {
  client: Client;
  /** Resolves with the close event that ends the connection, whoever closes it. */
  closed: Promise<Closed>;
  subscribe<T = Record<string, any>>(query: string, variables?: Record<string, unknown>): Subscription<T>;
  dispose(): Promise<void>;
}

/** One result of an operation, as this server formats it (every error has a code). */
export interface Result<T> {
  data?: T | null;
  errors?: Array<{ message: string; path?: string[]; extensions: { code: string; retryable: boolean } }>;
}

export interface Subscription<T> {
  /** The next result the server sends (data or errors), in order. */
  next(): Promise<Result<T>>;
  /** Resolves when the server completes the operation, or with the error (a close event, or GraphQL errors) that ends it. */
  ended: Promise<{ completed: true } | { error: unknown }>;
  unsubscribe(): void;
}

export function wsUrl(t: TestServer | string): string {
  return (typeof t === 'string' ? t : t.url).replace(/^http/, 'ws');
}

export function connect(
  url: string,
  authorization: string | null,
  connectionParams?: Record<string, unknown>,
): TestClient {
  let resolveClosed!: (closed: Closed) => void;
  const closed = new Promise<Closed>((resolve) => (resolveClosed = resolve));
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    lazyCloseTimeout: 0,
    connectionParams: connectionParams ?? (authorization === null ? {} : { authorization }),
    onNonLazyError: () => undefined,
    on: {
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        resolveClosed({ code, reason: String(reason) });
      },
    },
  });
  return {
    client,
    closed,
    subscribe<T>(query: string, variables?: Record<string, unknown>): Subscription<T> {
      const results: Array<Result<T>> = [];
      const waiters: Array<(result: Result<T>) => void> = [];
      let resolveEnded!: (outcome: { completed: true } | { error: unknown }) => void;
      const ended = new Promise<{ completed: true } | { error: unknown }>((resolve) => (resolveEnded = resolve));
      const unsubscribe = client.subscribe<T>(
        { query, variables },
        {
          next: (raw) => {
            const result = raw as Result<T>;
            const waiter = waiters.shift();
            if (waiter) waiter(result);
            else results.push(result);
          },
          error: (error) => resolveEnded({ error }),
          complete: () => resolveEnded({ completed: true }),
        },
      );
      return {
        next: () => {
          const result = results.shift();
          return result ? Promise.resolve(result) : new Promise((resolve) => waiters.push(resolve));
        },
        ended,
        unsubscribe,
      };
    },
    async dispose() {
      await client.dispose();
    },
  };
}

/** Connects as `secret` (an API key or customer token). */
export function connectAs(t: TestServer, secret: string): TestClient {
  return connect(wsUrl(t), `Bearer ${secret}`);
}

/** Resolves once `condition` holds; checks again whenever the event loop turns. */
export async function eventually(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 2));
}
