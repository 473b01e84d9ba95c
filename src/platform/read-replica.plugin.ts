import type { ApolloServerPlugin } from '@apollo/server';
import type { ReplicaSet } from './read-replica.js';

interface WritingContext {
  origin?: { principal: { actorId: string } };
}

/**
 * After every mutation, before its response leaves, the credential's write mark is recorded (see
 * read-replica.ts), so the caller's next stale-OK read never lands on a replica that has not replayed it.
 * Every mutation counts, answered with errors or not: a batch may have committed some of its items.
 */
export function readReplicaPlugin(replicas: ReplicaSet): ApolloServerPlugin<WritingContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ operation, contextValue }) {
          const actorId = contextValue.origin?.principal.actorId;
          if (operation?.operation === 'mutation' && actorId !== undefined) await replicas.recordWrite(actorId);
        },
      };
    },
  };
}
