import 'reflect-metadata';
import { GraphQLSchema, lexicographicSortSchema, printSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { AccountResolver, BalanceResolver } from './accounts/account.resolver.js';
import { AssetResolver } from './assets/asset.resolver.js';
import { ApiKeyResolver } from './auth/api-key.resolver.js';
import { LedgerBalanceResolver, LedgerResolver } from './ledgers/ledger.resolver.js';
import { PostingResolver } from './postings/postings.resolver.js';
import { EntryResolver, TransactionResolver } from './transactions/transaction.resolver.js';
import { AccountLotsResolver, LotResolver } from './lots/lots.resolver.js';
import { ExpiryResolver } from './jobs/expiry.resolver.js';
import { IntegrityResolver } from './integrity/integrity.resolver.js';
import { AuditResolver } from './audit/audit.resolver.js';
import { CustomerTokenResolver } from './auth/customer-token.resolver.js';
import { ViewerResolver } from './auth/viewer.resolver.js';
import { SubscriptionResolver } from './subscriptions/subscription.resolver.js';
import { LedgerEventResolver } from './events/event.resolver.js';
import { ERROR_CODE_ENUM } from './platform/graphql-errors.js';
import { WebhookEndpointResolver } from './webhooks/webhook.resolver.js';
import { ConversionResolver } from './conversions/conversion.resolver.js';
import { GiftCardResolver } from './giftcards/giftcard.resolver.js';
import { AccountLimitsResolver, LimitResolver } from './limits/limit.resolver.js';
import { ReconciliationExceptionResolver, ReconciliationRunResolver } from './reconciliation/run.resolver.js';
import { ExternalSourceResolver } from './reconciliation/source.resolver.js';
import { ExternalRecordResolver } from './reconciliation/record.resolver.js';

export const RESOLVERS = [
  LedgerResolver,
  LedgerBalanceResolver,
  AssetResolver,
  AccountResolver,
  BalanceResolver,
  TransactionResolver,
  EntryResolver,
  PostingResolver,
  AccountLotsResolver,
  LotResolver,
  ExpiryResolver,
  IntegrityResolver,
  AuditResolver,
  ApiKeyResolver,
  CustomerTokenResolver,
  ViewerResolver,
  SubscriptionResolver,
  LedgerEventResolver,
  WebhookEndpointResolver,
  ConversionResolver,
  GiftCardResolver,
  LimitResolver,
  AccountLimitsResolver,
  ReconciliationRunResolver,
  ReconciliationExceptionResolver,
  ExternalSourceResolver,
  ExternalRecordResolver,
] as const;

/**
 * type-graphql insists on a pub/sub when a schema has subscriptions, even though every subscription
 * here brings its own `subscribe` (the ledger event hub); this one says so if anything ever uses it.
 */
const noTopicPubSub = {
  publish(): void {
    throw new Error('subscriptions are fed by the ledger event hub, not by type-graphql topics');
  },
  subscribe(): AsyncIterable<unknown> {
    throw new Error('subscriptions are fed by the ledger event hub, not by type-graphql topics');
  },
};

export async function buildLedgerSchema(): Promise<GraphQLSchema> {
  const config = (await buildSchema({ resolvers: RESOLVERS, validate: false, pubSub: noTopicPubSub })).toConfig();
  // type-graphql adds only types some field reaches; the error codes are reached by none.
  return new GraphQLSchema({ ...config, types: [...config.types, ERROR_CODE_ENUM] });
}

/** The committed `schema.graphql`: sorted, so it diffs cleanly. */
export function printLedgerSchema(schema: GraphQLSchema): string {
  return printSchema(lexicographicSortSchema(schema)) + '\n';
}
