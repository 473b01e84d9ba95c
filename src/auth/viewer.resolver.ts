import { Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../context.js';
import { Account } from '../accounts/account.types.js';
import { Ledger } from '../ledgers/ledger.types.js';
import type { Principal } from '../authorization/access.core.js';
import { CredentialKind, CredentialRole, Viewer } from './viewer.types.js';

const KIND: Record<Principal['actorType'], CredentialKind> = {
  bootstrap: CredentialKind.BOOTSTRAP_ADMIN,
  api_key: CredentialKind.API_KEY,
  customer_token: CredentialKind.CUSTOMER_TOKEN,
  system: CredentialKind.SYSTEM,
};

@Resolver(() => Viewer)
export class ViewerResolver {
  // Nullable because API keys have no account. For a customer token it is never null: tokens are minted
  // only for an existing account, and accounts are closed, never deleted.
  @Query(() => Account, {
    nullable: true,
    description: "The customer token's account, never null for a customer token; null for API keys.",
  })
  async me(@Ctx() ctx: RequestContext): Promise<Account | null> {
    const grant = ctx.origin.principal.account;
    if (grant === undefined) return null;
    const account = await ctx.loaders.accountById.load(grant.accountId);
    return account && ctx.access.account(account);
  }

  @Query(() => Viewer, {
    description:
      'Who is asking: the kind of credential, its role and expiry; for a scoped key, its ledger; for a customer token, its account.',
  })
  viewer(@Ctx() ctx: RequestContext): Viewer {
    const { principal } = ctx.origin;
    return Object.assign(new Viewer(), {
      credential: KIND[principal.actorType],
      role: principal.role as CredentialRole,
      apiKeyId: principal.actorType === 'api_key' ? principal.actorId : null,
      expiresAt: principal.expiresAt ?? null,
      scopeLedgerId: principal.account === undefined ? (principal.scope?.ledgerId ?? null) : null,
      accountId: principal.account?.accountId ?? null,
    });
  }

  @FieldResolver(() => Ledger, {
    nullable: true,
    description: "The top of a scoped key's subtree; null for global credentials and customer tokens.",
  })
  async ledger(@Root() viewer: Viewer, @Ctx() ctx: RequestContext): Promise<Ledger | null> {
    if (viewer.scopeLedgerId === null) return null;
    const ledger = await ctx.loaders.ledgerById.load(viewer.scopeLedgerId);
    return ledger && ctx.access.ledger(ledger);
  }

  @FieldResolver(() => Account, { nullable: true, description: "A customer token's account; null for API keys." })
  async account(@Root() viewer: Viewer, @Ctx() ctx: RequestContext): Promise<Account | null> {
    if (viewer.accountId === null) return null;
    const account = await ctx.loaders.accountById.load(viewer.accountId);
    return account && ctx.access.account(account);
  }
}
