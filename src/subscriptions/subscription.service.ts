import type { AccountPlacement } from '../authorization/access.core.js';
import type { Access, PlacedAccount, PlacedLedger } from '../authorization/access.js';
import { toBalance, type AccountService } from '../accounts/account.service.js';
import type { Balance, NormalBalance } from '../accounts/account.types.js';
import type { LedgerService } from '../ledgers/ledger.service.js';
import { Transaction } from '../transactions/transaction.types.js';
import type { TransactionService } from '../transactions/transaction.service.js';
import { listenKey, type EventHub } from '../events/event-hub.js';
import type { ChangedBalance, CommittedPosting } from '../events/ledger-events.js';
import { encodeEventCursor, headBelow, type FeedPosition } from '../events/events.core.js';
import type { Database } from '../platform/db.js';
import type { Asset } from '../assets/asset.types.js';
import { BadInputError } from '../platform/errors.js';
import { EventStream, type PendingBudget } from './event-stream.js';
import { LedgerPathCache } from './ledger-path-cache.js';
import { FeedTail } from './feed-tail.js';
import { selectSnapshotBounds, selectTail, type TailRow } from './feed-tail.repository.js';
import { TailReads } from './tail-reads.js';
import { assertNotAhead, readResumePoint } from './resume.core.js';
import { assetNotFound } from '../assets/asset.core.js';

/** What the subscription filters look at, in a live posting and in a feed row alike. */
type PostingFacts = Pick<CommittedPosting, 'rootLedgerId' | 'ledgerId' | 'accountIds' | 'accountLedgerIds'>;

/** The stream item that stands for "the balance as it is now" (balanceUpdated with includeCurrent). */
const CURRENT = Symbol('current balance');

/** What a subscription needs from the WebSocket connection it runs on. */
export interface SubscriptionConnection {
  readonly budget: PendingBudget;
  /** The client reads too slowly: end the connection rather than buffer without bound. */
  overflow(): void;
}

/**
 * The subscribing request, as this service sees it: its access rules, the one loader it reads an asset
 * argument through, and the connection the subscription runs on. A request context is one.
 */
export interface Subscriber {
  readonly access: Access<PlacedLedger, PlacedAccount & { normalBalance: NormalBalance }>;
  readonly loaders: {
    readonly assetsOfRoot: { load(rootLedgerId: string): Promise<Asset[]> };
    readonly ledgerById: { load(ledgerId: string): Promise<{ path: readonly string[] } | null> };
  };
  readonly connection?: SubscriptionConnection;
}

/**
 * Turns ledger events into the two public subscriptions. Authorization is checked when subscribing (the
 * same rules as the queries) and again for every event (the credential must still be valid and the event
 * must concern what the subscriber may see). Data an event needs from the database is read once per
 * event per instance and shared by every subscriber it reaches.
 */
export class SubscriptionService {
  private readonly ledgerPaths: LedgerPathCache;
  private readonly shared = new WeakMap<CommittedPosting, Map<string, Promise<unknown>>>();
  private readonly tailReads: TailReads;
  // Subscribers that shared a feed read share its rows, and so the one read of each row's transaction.
  private readonly rowTransactions = new WeakMap<TailRow, Promise<Transaction | null>>();

  constructor(
    private readonly hub: EventHub,
    private readonly accounts: AccountService,
    private readonly transactions: TransactionService,
    ledgers: LedgerService,
    private readonly db: Database,
  ) {
    this.ledgerPaths = new LedgerPathCache(ledgers);
    this.tailReads = new TailReads((rootLedgerId, after, limit) => selectTail(db.pool, rootLedgerId, after, limit));
  }

  /**
   * `balanceUpdated`: the account's new balance after every posting that changed it (one asset, or all).
   * With `includeCurrent`, the current balance comes first, read after the listener is in place, so no
   * change can fall between the two; versions tell the client which is newest.
   */
  async balanceUpdates(
    ctx: Subscriber,
    accountIdArg: string,
    assetCode: string | null | undefined,
    includeCurrent = false,
    after: string | null = null,
  ): Promise<AsyncIterableIterator<Balance>> {
    const connection = requireConnection(ctx);
    const resumeFrom = after === null ? null : readResumePoint(after);
    const placement = await this.visibleAccount(ctx, accountIdArg);
    let assetId: string | null = null;
    if (assetCode != null) {
      const asset = (await ctx.loaders.assetsOfRoot.load(placement.rootLedgerId)).find(
        (candidate) => candidate.code === assetCode,
      );
      if (asset === undefined) throw assetNotFound(assetCode);
      assetId = asset.id;
    }
    const { access } = ctx;
    // Balances only grow in version; anything not newer than what was sent is stale (events can race).
    const sentVersions = new Map<string, number>();
    const fresh = (balance: Balance | null): balance is Balance => {
      if (balance === null || balance.version <= (sentVersions.get(balance.assetId) ?? -1)) return false;
      sentVersions.set(balance.assetId, balance.version);
      return true;
    };

    if (resumeFrom !== null) {
      const start = await this.startPosition(resumeFrom, placement.rootLedgerId);
      const tail: FeedTail<Balance> = new FeedTail(
        start,
        (position, limit) => this.tailReads.get(placement.rootLedgerId, position, limit),
        async (rows) => {
          if (!stillAuthorized(access, tail) || !access.seesAccount(placement)) return [];
          // One read of the balance per page of feed rows: the balance now includes every row of the page.
          const touched = new Map<string, string>();
          for (const row of rows)
            for (const entry of row.entries)
              if (entry.accountId === placement.accountId && (assetId === null || entry.assetId === assetId))
                touched.set(entry.assetId, rowCursor(row));
          if (touched.size === 0) return [];
          const balances = await this.accounts.balancesOf([
            { rootLedgerId: placement.rootLedgerId, accountId: placement.accountId },
          ]);
          return balances
            .filter((balance) => touched.has(balance.assetId) && fresh(balance))
            .map((balance) => Object.assign(balance, { cursor: touched.get(balance.assetId)! }));
        },
      );
      tail.onEnd(this.hub.onPosting(listenKey.account(placement.accountId), () => tail.wake()));
      if (includeCurrent) {
        const cursor = encodeEventCursor(start);
        tail.offer(
          (await this.currentBalances(placement, assetId))
            .filter(fresh)
            .map((balance) => Object.assign(balance, { cursor })),
        );
      }
      return tail;
    }

    const stream: EventStream<CommittedPosting | typeof CURRENT, Balance> = new EventStream(
      connection.budget,
      () => connection.overflow(),
      async (item) => {
        if (!stillAuthorized(access, stream) || !access.seesAccount(placement)) return [];
        if (item === CURRENT) return (await this.currentBalances(placement, assetId)).filter(fresh);
        const balances: Balance[] = [];
        for (const row of item.balances) {
          if (row.accountId !== placement.accountId || (assetId !== null && row.assetId !== assetId)) continue;
          const balance = row.sharded ? await this.summedBalance(item, row) : rowBalance(row);
          if (fresh(balance)) balances.push(balance);
        }
        return balances;
      },
    );
    stream.onEnd(this.hub.onPosting(listenKey.account(placement.accountId), (posting) => stream.push(posting)));
    if (includeCurrent) stream.push(CURRENT);
    return stream;
  }

  /**
   * `transactionPosted`: every transaction touching the account, or any account in the ledger's subtree.
   * Without arguments: everything a global credential sees, or a scoped key's whole subtree.
   */
  async transactionPosts(
    ctx: Subscriber,
    ledgerIdArg: string | null | undefined,
    accountIdArg: string | null | undefined,
    after: string | null = null,
  ): Promise<AsyncIterableIterator<Transaction>> {
    const connection = requireConnection(ctx);
    const resumeFrom = after === null ? null : readResumePoint(after);
    const { access } = ctx;
    const account = accountIdArg == null ? null : await this.visibleAccount(ctx, accountIdArg);
    let ledger: { id: string; rootLedgerId: string } | null = null;
    if (ledgerIdArg != null) {
      ledger = await access.visibleLedger(ledgerIdArg);
    } else if (account === null) {
      const widest = access.widestLedger('a customer token follows only its own account: give accountId');
      if (widest !== null) ledger = await access.visibleLedger(widest);
    }
    if (account !== null && ledger !== null && account.rootLedgerId !== ledger.rootLedgerId) {
      throw new BadInputError('accountId and ledgerId belong to different ledger trees: no transaction can match both');
    }

    // The same filter and authorization for a live posting and for a feed row, checked for every event.
    const concerns = async (posting: PostingFacts): Promise<boolean> => {
      if (account !== null && (!posting.accountIds.includes(account.accountId) || !access.seesAccount(account)))
        return false;
      return ledger === null || this.touchesSubtree(access, posting, ledger);
    };
    const key =
      account !== null
        ? listenKey.account(account.accountId)
        : ledger !== null
          ? listenKey.root(ledger.rootLedgerId)
          : listenKey.everything;

    if (resumeFrom !== null) {
      const rootLedgerId = account?.rootLedgerId ?? ledger?.rootLedgerId;
      if (rootLedgerId === undefined)
        throw new BadInputError('after needs ledgerId or accountId: the event feed is kept per ledger tree');
      const start = await this.startPosition(resumeFrom, rootLedgerId);
      const tail: FeedTail<Transaction> = new FeedTail(
        start,
        (position, limit) => this.tailReads.get(rootLedgerId, position, limit),
        async (rows) => {
          if (!stillAuthorized(access, tail)) return [];
          const kept: TailRow[] = [];
          for (const row of rows) if (await concerns({ rootLedgerId, ...row })) kept.push(row);
          if (kept.length === 0) return [];
          const transactions = await this.transactionsOf(kept);
          // A hold's posting and its void are two events of one transaction: each gets its own copy and cursor.
          return kept.flatMap((row, index) => {
            const transaction = transactions[index];
            return transaction == null
              ? []
              : [Object.assign(new Transaction(), transaction, { cursor: rowCursor(row) })];
          });
        },
      );
      tail.onEnd(this.hub.onPosting(key, () => tail.wake()));
      return tail;
    }

    const stream: EventStream<CommittedPosting, Transaction> = new EventStream(
      connection.budget,
      () => connection.overflow(),
      async (posting) => {
        if (!stillAuthorized(access, stream)) return [];
        if (!(await concerns(posting))) return [];
        const transaction = await this.share(
          posting,
          'transaction',
          async () => (await this.transactions.fetchByIds([posting.transactionId]))[0] ?? null,
        );
        return transaction === null ? [] : [transaction];
      },
    );
    stream.onEnd(this.hub.onPosting(key, (posting) => stream.push(posting)));
    return stream;
  }

  /**
   * Where a resumable subscription starts: just past the client's cursor, or the feed's head now. A
   * cursor from another tree is a position like any other (positions are global); the tail reads only
   * the subscription's own tree, so it can show nothing of the other one.
   */
  private async startPosition(point: ReturnType<typeof readResumePoint>, rootLedgerId: string): Promise<FeedPosition> {
    const bounds = await selectSnapshotBounds(this.db.pool, rootLedgerId);
    if (point.kind === 'now') return headBelow(bounds.xmin);
    assertNotAhead(point.position, bounds.xmax);
    return point.position;
  }

  /** The transactions of feed rows, each read once for every subscriber the row reached (one statement). */
  private transactionsOf(rows: TailRow[]): Promise<Array<Transaction | null>> {
    const missing = rows.filter((row) => !this.rowTransactions.has(row));
    if (missing.length > 0) {
      const fetched = this.transactions
        .fetchByIds([...new Set(missing.map((row) => row.transactionId))])
        .then((found) => new Map(found.map((transaction) => [transaction.id, transaction])));
      for (const row of missing) {
        const read = fetched.then((byId) => byId.get(row.transactionId) ?? null);
        this.rowTransactions.set(row, read);
        // A failed read is not remembered: the next subscriber tries again.
        read.catch(() => this.rowTransactions.delete(row));
      }
    }
    return Promise.all(rows.map((row) => this.rowTransactions.get(row)!));
  }

  /** The account named by a subscription argument, checked as `account(id)` checks it. */
  private async visibleAccount(
    ctx: Subscriber,
    accountIdArg: string,
  ): Promise<AccountPlacement & { normalBalance: NormalBalance }> {
    const account = await ctx.access.visibleAccount(accountIdArg);
    const ledger = await ctx.loaders.ledgerById.load(account.ledgerId);
    return {
      rootLedgerId: account.rootLedgerId,
      ledgerPath: ledger?.path ?? [],
      accountId: account.id,
      isSystem: account.isSystem,
      normalBalance: account.normalBalance,
    };
  }

  /** Whether the posting was posted in, or touched an account in, the ledger's subtree, within the principal's reach. */
  private async touchesSubtree(
    access: Subscriber['access'],
    posting: PostingFacts,
    ledger: { id: string; rootLedgerId: string },
  ): Promise<boolean> {
    if (posting.rootLedgerId !== ledger.rootLedgerId) return false;
    const ledgerIds = [posting.ledgerId, ...posting.accountLedgerIds];
    const paths = await this.ledgerPaths.pathsOf(ledgerIds);
    return ledgerIds.some((id) => {
      const path = paths.get(id);
      return (
        path?.includes(ledger.id) === true && access.reaches({ rootLedgerId: posting.rootLedgerId, ledgerPath: path })
      );
    });
  }

  /** The account's balances now: the one asset (zero when never held), or every asset it has held. */
  private async currentBalances(
    account: AccountPlacement & { normalBalance: NormalBalance },
    assetId: string | null,
  ): Promise<Balance[]> {
    const balances = await this.accounts.balancesOf([
      { rootLedgerId: account.rootLedgerId, accountId: account.accountId },
    ]);
    if (assetId === null) return balances;
    const held = balances.find((balance) => balance.assetId === assetId);
    const zero = { debitsPosted: 0n, creditsPosted: 0n, debitsPending: 0n, creditsPending: 0n };
    return [
      held ??
        toBalance(
          {
            rootLedgerId: account.rootLedgerId,
            accountId: account.accountId,
            assetId,
            normalBalance: account.normalBalance,
          },
          zero,
          0,
          null,
        ),
    ];
  }

  /** A hot account's row is one shard of its balance: the whole balance is read, once per event. */
  private summedBalance(posting: CommittedPosting, row: ChangedBalance): Promise<Balance | null> {
    return this.share(posting, `balance|${row.accountId}|${row.assetId}`, async () => {
      const balances = await this.accounts.balancesOf([{ rootLedgerId: row.rootLedgerId, accountId: row.accountId }]);
      return balances.find((balance) => balance.assetId === row.assetId) ?? null;
    });
  }

  private share<T>(posting: CommittedPosting, key: string, read: () => Promise<T>): Promise<T> {
    let reads = this.shared.get(posting);
    if (reads === undefined) {
      reads = new Map();
      this.shared.set(posting, reads);
    }
    let pending = reads.get(key) as Promise<T> | undefined;
    if (pending === undefined) {
      pending = read();
      reads.set(key, pending);
      // A failed read is not remembered: the next subscriber tries again.
      pending.catch(() => reads.delete(key));
    }
    return pending;
  }
}

function rowCursor(row: TailRow): string {
  return encodeEventCursor({ xid: row.xid, id: row.id });
}

function rowBalance(row: ChangedBalance): Balance {
  const { debitsPosted, creditsPosted, debitsPending, creditsPending } = row;
  return toBalance(
    {
      rootLedgerId: row.rootLedgerId,
      accountId: row.accountId,
      assetId: row.assetId,
      normalBalance: row.normalBalance as NormalBalance,
    },
    { debitsPosted, creditsPosted, debitsPending, creditsPending },
    row.version,
    row.updatedAt,
  );
}

/** A credential that has expired ends its subscriptions (its connection is closed at the same moment). */
function stillAuthorized(access: Subscriber['access'], stream: { end(): void }): boolean {
  if (access.isCurrent(new Date())) return true;
  stream.end();
  return false;
}

function requireConnection(ctx: Subscriber): SubscriptionConnection {
  if (ctx.connection === undefined)
    throw new BadInputError('subscriptions are served over WebSocket (graphql-transport-ws) at /graphql');
  return ctx.connection;
}
