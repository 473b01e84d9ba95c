import 'reflect-metadata';
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { AccountResolver, BalanceResolver } from './accounts/account.resolver.js';
import { AssetResolver } from './assets/asset.resolver.js';
import { ApiKeyResolver } from './auth/api-key.resolver.js';
import { LedgerBalanceResolver, LedgerResolver } from './ledgers/ledger.resolver.js';
import { PostingResolver } from './postings/postings.resolver.js';
import { EntryResolver, TransactionResolver } from './transactions/transaction.resolver.js';
import { AccountLotsResolver, ExpiryResolver, LotResolver } from './lots/lots.resolver.js';
import { IntegrityResolver } from './integrity/integrity.resolver.js';
import { AuditResolver } from './audit/audit.resolver.js';

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
] as const;

export function buildLedgerSchema(): Promise<GraphQLSchema> {
  return buildSchema({ resolvers: RESOLVERS, validate: false });
}

/** The committed `schema.graphql`: sorted, so it diffs cleanly. */
export function printLedgerSchema(schema: GraphQLSchema): string {
  return printSchema(lexicographicSortSchema(schema)) + '\n';
}
