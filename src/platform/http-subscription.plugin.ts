import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';

/**
 * Subscriptions run over WebSocket only. Sent over HTTP, graphql-js would execute one as a query and
 * answer a masked "Cannot return null for non-nullable field" (logged as unexpected); this plugin refuses
 * it first, with BAD_USER_INPUT naming the WebSocket address of the very endpoint the client called.
 */
export function httpSubscriptionPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, request }) {
          if (operation?.operation !== 'subscription') return;
          throw new GraphQLError(
            `subscriptions run over WebSocket, not HTTP: connect a graphql-ws client (protocol graphql-transport-ws) to ${webSocketUrl(request.http?.headers.get('host'), request.http?.headers.get('x-forwarded-proto'))}`,
            { extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } },
          );
        },
      };
    },
  };
}

// The Host header is the client's own view of the address (behind a proxy too); it is only echoed back to
// the same client, in a message, never used to route anything.
function webSocketUrl(host: string | undefined, forwardedProto: string | undefined): string {
  const secure = forwardedProto?.split(',')[0]?.trim().toLowerCase() === 'https';
  const safeHost = host !== undefined && /^[A-Za-z0-9.:[\]-]{1,255}$/.test(host) ? host : 'localhost:4000';
  return `${secure ? 'wss' : 'ws'}://${safeHost}/graphql`;
}
