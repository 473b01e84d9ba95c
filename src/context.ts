import type { RequestOrigin } from './audit/audit.js';
import { Access } from './authorization/access.js';
import type { AccountService } from './accounts/account.service.js';
import { accountLoaders } from './accounts/account.loaders.js';
import type { Account } from './accounts/account.types.js';
import type { BalanceHistoryService } from './accounts/balance-history.service.js';
import type { AssetService } from './assets/asset.service.js';
import { assetLoaders } from './assets/asset.loaders.js';
import type { AuditService } from './audit/audit.service.js';
import type { ApiKeyService } from './auth/api-key.service.js';
import type { Authenticator } from './auth/authenticator.js';
import type { CustomerTokenService } from './auth/customer-token.service.js';
import type { IntegrityService } from './integrity/integrity.service.js';
import type { LedgerService } from './ledgers/ledger.service.js';
import { ledgerLoaders } from './ledgers/ledger.loaders.js';
import type { Ledger } from './ledgers/ledger.types.js';
import type { ExpiryService } from './jobs/expiry.service.js';
import type { LotService } from './lots/lots.service.js';
import type { PostingService } from './postings/postings.service.js';
import type { SubscriptionConnection, SubscriptionService } from './subscriptions/subscription.service.js';
import type { TransactionService } from './transactions/transaction.service.js';
import type { EventFeed } from './events/feed.service.js';
import type { WebhookService } from './webhooks/webhooks.service.js';
import type { ConversionService } from './conversions/conversion.service.js';
import type { GiftCardService } from './giftcards/giftcard.service.js';
import type { LimitService } from './limits/limit.service.js';
import type { SourceService } from './reconciliation/source.service.js';
import type { RecordService } from './reconciliation/record.service.js';
import type { ImportService } from './reconciliation/import.service.js';
import { reconciliationLoaders } from './reconciliation/reconciliation.loaders.js';
import { transactionLoaders } from './transactions/transaction.loaders.js';
import { loaderSet, type LoadersOf } from './platform/loader.js';
import type { RunService } from './reconciliation/run.service.js';
import type { ResolutionService } from './reconciliation/resolution.service.js';
import type { ReportService } from './reconciliation/report.service.js';
import { runLoaders } from './reconciliation/run.loaders.js';

export interface Services {
  ledgers: LedgerService;
  assets: AssetService;
  accounts: AccountService;
  balanceHistory: BalanceHistoryService;
  transactions: TransactionService;
  postings: PostingService;
  lots: LotService;
  expiry: ExpiryService;
  integrity: IntegrityService;
  audit: AuditService;
  apiKeys: ApiKeyService;
  customerTokens: CustomerTokenService;
  authenticator: Authenticator;
  subscriptions: SubscriptionService;
  events: EventFeed;
  webhooks: WebhookService;
  conversions: ConversionService;
  giftCards: GiftCardService;
  limits: LimitService;
  reconciliationRuns: RunService;
  reconciliationResolutions: ResolutionService;
  reconciliationReports: ReportService;
  reconciliationSources: SourceService;
  reconciliationRecords: RecordService;
  reconciliationImports: ImportService;
}

const LOADER_MAKERS = {
  ...ledgerLoaders,
  ...assetLoaders,
  ...accountLoaders,
  ...transactionLoaders,
  ...reconciliationLoaders,
  ...runLoaders,
};

/** One set per request: every relation in a response is fetched in batches, never row by row. */
export type Loaders = LoadersOf<typeof LOADER_MAKERS>;

const RequestLoaders = loaderSet<Services, Loaders>(LOADER_MAKERS);

export interface RequestContext {
  origin: RequestOrigin;
  services: Services;
  loaders: Loaders;
  /** What this request's principal may do: every resolver and subscription asks here. */
  access: Access<Ledger, Account>;
  /** Present for operations over WebSocket. */
  connection?: SubscriptionConnection;
}

export function createRequestContext(
  services: Services,
  origin: RequestOrigin,
  connection?: SubscriptionConnection,
): RequestContext {
  const loaders = new RequestLoaders(services);
  return { origin, services, loaders, access: new Access(origin.principal, loaders), connection };
}

/**
 * A subscription's context lives as long as the subscription; every event starts with empty loaders so
 * that it reads fresh data, never what an earlier event cached.
 */
export function renewLoaders(ctx: RequestContext): void {
  ctx.loaders = new RequestLoaders(ctx.services);
  ctx.access = new Access(ctx.origin.principal, ctx.loaders);
}
