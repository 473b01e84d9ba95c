import type pg from 'pg';
import { missBatcher } from '../platform/loader.js';
import { groupByRoot, type RootDirectory } from '../platform/root-directory.js';
import type { AccountFacts } from './postings.core.js';
import { readAccountFacts, readAccountFactsById } from './postings.repository.js';

export type { AccountFacts };

/** Accounts remembered at most; the least recently used are forgotten first. */
export const ACCOUNT_FACTS_CACHED_MAX = 20_000;

/**
 * The facts a posting is planned from (root, ledger and its path, code, normal balance, overdraft, system
 * or not). None of them changes after an account is created and accounts are never deleted, so they are
 * remembered for the life of the process and every instance agrees on them: a posting then needs no read
 * before its one write statement. Status does change; write_postings checks it under a lock. Should overdraft
 * settings ever become editable, this cache and each balance row's copy of the floor must change with them.
 */
export class AccountFactsCache {
  private readonly remembered = new Map<string, AccountFacts>();
  private readonly readMisses: (id: string) => Promise<AccountFacts | null>;

  constructor(
    pool: pg.Pool,
    private readonly roots: RootDirectory,
    private readonly max = ACCOUNT_FACTS_CACHED_MAX,
  ) {
    this.readMisses = missBatcher((ids) => this.readUncached(pool, ids));
  }

  /**
   * The facts of each account that exists; a missing id is simply absent. `client` is the caller's
   * transaction client when it holds one, so a miss never waits for a second pool connection.
   */
  async get(ids: readonly string[], client?: pg.PoolClient): Promise<Map<string, AccountFacts>> {
    const found = new Map<string, AccountFacts>();
    const missing: string[] = [];
    for (const id of new Set(ids)) {
      const facts = this.remembered.get(id);
      if (facts === undefined) {
        missing.push(id);
        continue;
      }
      // Re-inserting moves the entry to the young end of the map's order.
      this.remembered.delete(id);
      this.remembered.set(id, facts);
      found.set(id, facts);
    }
    if (missing.length > 0) {
      const read = client ? await this.readWith(client, missing) : await Promise.all(missing.map(this.readMisses));
      for (const facts of read) {
        if (facts === null) continue;
        found.set(facts.id, facts);
        this.remember(facts);
      }
    }
    return found;
  }

  /** Misses read on the caller's transaction client. */
  private readWith(client: pg.PoolClient, ids: string[]): Promise<AccountFacts[]> {
    return this.readUncached(client, ids);
  }

  /**
   * Facts not cached: by root for accounts whose root this process knows (one statement per tree, one after
   * the other), by id for the others, which finds their root with the row; either way one statement per
   * account first seen, as before roots were named.
   */
  private async readUncached(reader: pg.Pool | pg.PoolClient, ids: string[]): Promise<AccountFacts[]> {
    const known = this.roots.known('accounts', ids);
    const read: AccountFacts[] = [];
    for (const [root, rootIds] of groupByRoot(known)) read.push(...(await readAccountFacts(reader, root, rootIds)));
    const unknown = ids.filter((id) => !known.has(id));
    if (unknown.length > 0) {
      const found = await readAccountFactsById(reader, unknown);
      for (const facts of found) this.roots.remember('accounts', facts.id, facts.rootLedgerId);
      read.push(...found);
    }
    return read;
  }

  private remember(facts: AccountFacts): void {
    this.remembered.set(facts.id, facts);
    if (this.remembered.size > this.max) this.remembered.delete(this.remembered.keys().next().value!);
  }
}
