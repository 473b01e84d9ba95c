import type { ApolloServerPlugin } from '@apollo/server';
import { Kind } from 'graphql';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

interface LoggedContext {
  origin?: { requestId: string; principal: { actorId: string } };
}

/**
 * One structured log line and one duration sample per GraphQL request: request id, the root operation
 * (e.g. `mutation.issue`, a schema name, so metric labels stay bounded), the client's operation name,
 * duration, actor and outcome (OK or the first error's code).
 */
export function requestLogPlugin(logger: Logger, metrics: Metrics): ApolloServerPlugin<LoggedContext> {
  return {
    async requestDidStart({ contextValue, request }) {
      const started = process.hrtime.bigint();
      let operation = 'unresolved';
      let operationName = request.operationName;
      return {
        async didResolveOperation({ operation: resolved }) {
          if (resolved === undefined) return;
          operationName ??= resolved.name?.value;
          const field = resolved.selectionSet.selections.find((selection) => selection.kind === Kind.FIELD);
          operation = `${resolved.operation}.${field?.kind === Kind.FIELD ? field.name.value : 'fragment'}`;
        },
        async willSendResponse({ response }) {
          const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
          const outcome = String(errors?.[0]?.extensions?.code ?? 'OK');
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          metrics.requestDuration.observe({ operation, outcome }, seconds);
          logger.info('graphql request', {
            requestId: contextValue.origin?.requestId,
            operation,
            operationName: operationName?.slice(0, 100),
            durationMs: Math.round(seconds * 1e6) / 1e3,
            actorId: contextValue.origin?.principal.actorId,
            outcome,
          });
        },
      };
    },
  };
}
