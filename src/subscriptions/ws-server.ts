import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { GraphQLError, getOperationAST, specifiedRules, validate, type GraphQLSchema } from 'graphql';
import { CloseCode, makeServer, type ExecutionResult } from 'graphql-ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Principal } from '../authorization/access.core.js';
import { createRequestContext, type Services } from '../context.js';
import type { EventHub } from '../events/event-hub.js';
import type { RealtimeConfig } from '../platform/config.js';
import { queryBoundsRule } from '../platform/depth-limit.js';
import { ForbiddenError, UnauthenticatedError } from '../platform/errors.js';
import { classifyError, formatGraphQLError } from '../platform/graphql-errors.js';
import type { Logger } from '../platform/logger.js';
import type { ReplicaSet } from '../platform/read-replica.js';
import { DocumentCache } from './document-cache.js';
import { Heartbeat } from './heartbeat.js';
import { PendingBudget } from './event-stream.js';
import type { SubscriptionConnection } from './subscription.service.js';

/**
 * Close codes this server uses, besides graphql-ws's own (4400 bad request, 4408 init timeout, 4409
 * duplicate id, 4429 second init) and the WebSocket ones `ws` sends by itself (1009: a message above
 * WS_MESSAGE_BYTES_MAX). 4401 is final for graphql-ws 6 clients (the client's isFatal list: 1000–1999
 * but 1000, 1001, 1005, 1006, 1012–1014, and 4400, 4401, 4406, 4409, 4429, 4500, 4004, 4005, even with
 * shouldRetry); 4403, 4440 and 1013 make them reconnect, calling connectionParams again.
 */
export const WS_CLOSE = {
  /** Missing, invalid or expired credentials in connection_init. */
  unauthorized: CloseCode.Unauthorized,
  /**
   * The customer token expired while connected (440 is HTTP's "login time-out"). Not a fatal code, so
   * graphql-ws clients (Apollo's GraphQLWsLink, urql's subscriptionExchange) reconnect by themselves with
   * a fresh connectionParams; a stale token there is then refused with 4401, which ends the retrying.
   */
  credentialsExpired: 4440,
  /** The credential was valid but no longer is allowed (its API key was revoked). */
  forbidden: CloseCode.Forbidden,
  /** The client read too slowly: WS_PENDING_EVENTS_MAX events waited for it. Reconnect and refetch. */
  slowConsumer: 1013,
  internal: CloseCode.InternalServerError,
} as const;

// A close frame's reason may carry at most 123 bytes.
const CLOSE_REASON_BYTES_MAX = 123;
// Time a client has to send connection_init after opening the socket.
const CONNECTION_INIT_WAIT_MS = 3_000;
// At shutdown, how long clients get to answer the closing handshake before their sockets are cut.
const CLOSE_GRACE_MS = 1_000;

export function closeReason(text: string): string {
  let reason = text;
  while (Buffer.byteLength(reason) > CLOSE_REASON_BYTES_MAX) reason = reason.slice(0, -1);
  return reason;
}

/** The `authorization` entry of the connection_init payload, whatever its case (GraphiQL sends headers as they are typed). */
export function connectionAuthorization(params: Readonly<Record<string, unknown>> | undefined): string | undefined {
  if (params === undefined) return undefined;
  const entry = Object.entries(params).find(([name]) => name.toLowerCase() === 'authorization');
  return typeof entry?.[1] === 'string' ? entry[1] : undefined;
}

/**
 * The text as one flat string. Node's randomUUID() and template literals build strings as chains of
 * pieces (about twenty 32-byte pieces for a UUID); an id kept for a connection's lifetime is worth one copy.
 */
function flatCopy(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** One client connection: its credential, its pending-event budget, and what must be undone when it ends. */
class Connection implements SubscriptionConnection {
  readonly id = flatCopy(randomUUID());
  readonly budget: PendingBudget;
  principal: Principal | null = null;
  private readonly cleanups: Array<() => void> = [];

  constructor(
    private readonly socket: WebSocket,
    readonly clientAddress: string | null,
    pendingEventsMax: number,
  ) {
    this.budget = new PendingBudget(pendingEventsMax);
  }

  overflow(): void {
    this.close(
      WS_CLOSE.slowConsumer,
      `Try again later: ${this.budget.max} events waited for this client; reconnect and refetch`,
    );
  }

  close(code: number, reason: string): void {
    this.socket.close(code, closeReason(reason));
  }

  onDispose(cleanup: () => void): void {
    this.cleanups.push(cleanup);
  }

  dispose(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
  }
}

/**
 * What graphql-ws keeps for a connection besides its own state. Not the upgrade request: graphql-ws holds
 * `extra` for the connection's lifetime, and the request (headers, raw headers, stream state) was about
 * 1 KB per socket that nothing read after the client address was taken from it.
 */
interface Extra {
  connection: Connection;
}

export interface WebSocketEndpointOptions {
  httpServer: http.Server;
  schema: GraphQLSchema;
  services: Services;
  hub: EventHub;
  limits: RealtimeConfig;
  logger: Logger;
  exposeDetails: boolean;
  /** The read replicas, whose write marks mutations over the socket record (DATABASE_READ_URL). */
  replicas?: ReplicaSet | null;
}

export interface WebSocketEndpoint {
  connectionCount(): number;
  /** Closes every connection (1001, going away) and stops accepting new ones. */
  dispose(): Promise<void>;
}

/**
 * GraphQL over WebSocket (graphql-transport-ws) on the HTTP server's own port and path. A thin adapter
 * between `ws` and graphql-ws's protocol server: authentication in connection_init, keep-alive pings,
 * and the limits (connections, subscriptions per connection, message size, pending events).
 */
export function attachWebSocketServer(options: WebSocketEndpointOptions): WebSocketEndpoint {
  const { httpServer, schema, services, hub, limits, logger, exposeDetails } = options;
  const wss = new WebSocketServer({
    server: httpServer,
    path: '/graphql',
    maxPayload: limits.wsMessageBytesMax,
    verifyClient: (_info, accept) => {
      if (wss.clients.size >= limits.wsConnectionsMax)
        accept(false, 503, 'Too many WebSocket connections; retry later');
      else accept(true);
    },
    handleProtocols: (protocols) => (protocols.has('graphql-transport-ws') ? 'graphql-transport-ws' : false),
  });

  const format = (errors: readonly GraphQLError[], requestId: string) =>
    errors.map((error) => {
      if (classifyError(error).unexpected)
        logger.error('unexpected error', { requestId, error: error.originalError ?? error });
      return formatGraphQLError(error.toJSON(), error, exposeDetails);
    });

  const documents = new DocumentCache();
  const protocol = makeServer<Record<string, unknown>, Extra>({
    schema,
    connectionInitWaitTimeout: CONNECTION_INIT_WAIT_MS,
    parse: (source) => documents.parse(typeof source === 'string' ? source : source.body),
    validate: (validationSchema, document) =>
      documents.validate(document, (parsed) =>
        validate(validationSchema, parsed, [...specifiedRules, queryBoundsRule]),
      ),

    async onConnect(ctx) {
      const { connection } = ctx.extra;
      let principal: Principal;
      try {
        principal = await services.authenticator.authenticate(connectionAuthorization(ctx.connectionParams));
      } catch (error) {
        if (error instanceof UnauthenticatedError)
          connection.close(WS_CLOSE.unauthorized, `Unauthorized: ${error.message}`);
        else if (error instanceof ForbiddenError) connection.close(WS_CLOSE.forbidden, `Forbidden: ${error.message}`);
        else {
          logger.error('WebSocket authentication failed', { connectionId: connection.id, error });
          connection.close(WS_CLOSE.internal, 'Internal server error; retry');
        }
        return false;
      }
      connection.principal = principal;
      if (principal.expiresAt !== undefined) {
        const timer = setTimeout(
          () =>
            connection.close(
              WS_CLOSE.credentialsExpired,
              'Unauthorized: the customer token has expired; reconnect with a new one',
            ),
          principal.expiresAt.getTime() - Date.now(),
        );
        connection.onDispose(() => clearTimeout(timer));
      }
      if (principal.actorType === 'api_key') {
        connection.onDispose(
          hub.onApiKeyRevoked(principal.actorId, () =>
            connection.close(WS_CLOSE.forbidden, 'Forbidden: this API key has been revoked'),
          ),
        );
      }
      return true;
    },

    onSubscribe(ctx) {
      // graphql-ws has already reserved this operation's id, so it is counted here.
      if (Object.keys(ctx.subscriptions).length > limits.wsSubscriptionsPerConnectionMax) {
        return [
          new GraphQLError(
            `at most ${limits.wsSubscriptionsPerConnectionMax} operations may be active on one connection; complete one first`,
            { extensions: { code: 'RATE_LIMITED', retryable: true } },
          ),
        ];
      }
      return undefined;
    },

    context(ctx, id) {
      const { connection } = ctx.extra;
      return createRequestContext(
        services,
        {
          principal: connection.principal!,
          requestId: flatCopy(`${connection.id}:${id}`),
          clientAddress: connection.clientAddress,
        },
        connection,
      );
    },

    async onNext(ctx, id, _payload, args, result: ExecutionResult) {
      // A mutation sent over the socket marks its credential's write too, as over HTTP (read-replica.ts).
      if (options.replicas && getOperationAST(args.document, args.operationName)?.operation === 'mutation') {
        await options.replicas.recordWrite(ctx.extra.connection.principal!.actorId);
      }
      if (!result.errors?.length) return undefined;
      return { ...result, errors: format(result.errors, `${ctx.extra.connection.id}:${id}`) };
    },

    onError(ctx, id, _payload, errors) {
      return format(errors, `${ctx.extra.connection.id}:${id}`);
    },
  });

  const heartbeat = new Heartbeat(limits.wsKeepAliveMs);

  wss.on('connection', (socket, request) => {
    const connection = new Connection(socket, request.socket.remoteAddress ?? null, limits.wsPendingEventsMax);
    // Protocol violations (an oversized or malformed frame): `ws` has already closed with the right code.
    socket.on('error', (error) =>
      logger.debug('WebSocket client error', { connectionId: connection.id, error: error.message }),
    );
    heartbeat.watch(socket);

    const closed = protocol.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            socket.send(data, (error) => (error ? reject(error) : resolve()));
          }),
        close: (code, reason) => socket.close(code, reason),
        // Not an async function: graphql-ws settles a `subscribe` message only when the subscription ends,
        // and a suspended handler would keep the received frame (its Buffer and text) for all that time.
        onMessage: (handle) =>
          socket.on('message', (data) => {
            handle(String(data)).catch((error: unknown) => {
              logger.error('WebSocket message handling failed', { connectionId: connection.id, error });
              connection.close(WS_CLOSE.internal, 'Internal server error');
            });
          }),
      },
      { connection },
    );

    socket.once('close', (code, reason) => {
      heartbeat.forget(socket);
      connection.dispose();
      void closed(code, String(reason));
    });
  });

  return {
    connectionCount: () => wss.clients.size,
    async dispose() {
      heartbeat.stop();
      const closed = new Promise<void>((resolve) => wss.close(() => resolve()));
      for (const client of wss.clients) client.close(1001, 'Going away');
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise<void>((resolve) => (grace = setTimeout(resolve, CLOSE_GRACE_MS)))]);
      clearTimeout(grace);
      for (const client of wss.clients) client.terminate();
      await closed;
    },
  };
}
