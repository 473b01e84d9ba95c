import type pg from 'pg';
import { isUuid } from './ids.js';
import { missBatcher } from './loader.js';
import { type RootedTable, selectRootsOf } from './root-directory.repository.js';

export type { RootedTable };

/** Ids remembered at most, over all tables (about 200 bytes each); the oldest are forgotten first. */
export const ROOT_DIRECTORY_MAX = 200_000;

/**
 * Id → root ledger, for every statement to name the root of the rows it reads (docs/citus-routing.md):
 * on Citus the root is the distribution column, and a statement without it reaches every shard.
 *
 * A row's root never changes (rows never move between trees and are never re-keyed), so what the directory
 * learned stays true for the life of the process and every instance agrees: no invalidation. Rows made by
 * this process are remembered as they are made; an id seen first costs one batched `SELECT id, root_ledger_id
 * ... WHERE id = ANY($1)` per table, shared by every lookup that misses in the same tick. An id that does not
 * exist is not remembered, so it is looked up again next time (and is then absent again).
 */
export class RootDirectory {
  private readonly roots = new Map<string, string>();
  private readonly readMisses = new Map<RootedTable, (id: string) => Promise<{ id: string; root: string } | null>>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly max = ROOT_DIRECTORY_MAX,
  ) {}

  /** What a caller already knows: a row it made or read, with its root. */
  remember(table: RootedTable, id: string, root: string): void {
    const key = `${table}/${id.toLowerCase()}`;
    if (this.roots.has(key)) return;
    this.roots.set(key, root);
    if (this.roots.size > this.max) this.roots.delete(this.roots.keys().next().value!);
  }

  /** Every row of `rows` (any object with its id and root), remembered; returns them for chaining. */
  rememberRows<T extends { id: string; rootLedgerId: string }>(table: RootedTable, rows: T[]): T[] {
    for (const row of rows) this.remember(table, row.id, row.rootLedgerId);
    return rows;
  }

  /**
   * The root of each id that exists in `table`; an absent id is simply left out. `client` is the caller's
   * transaction client when it holds one, so a miss never waits for a second pool connection.
   */
  async rootsOf(table: RootedTable, ids: readonly string[], client?: pg.PoolClient): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    // By the id as the caller wrote it; looked up in lower case, as Postgres prints a uuid. Something that
    // is not a UUID names no row (and must not fail a miss batch that other requests share).
    const missing = new Map<string, string[]>();
    for (const id of new Set(ids)) {
      if (!isUuid(id)) continue;
      const canonical = id.toLowerCase();
      const root = this.roots.get(`${table}/${canonical}`);
      if (root !== undefined) found.set(id, root);
      else missing.set(canonical, [...(missing.get(canonical) ?? []), id]);
    }
    if (missing.size > 0) {
      const wanted = [...missing.keys()];
      const read = client
        ? await selectRootsOf(client, table, wanted)
        : await Promise.all(wanted.map(this.missReader(table)));
      for (const row of read) {
        if (row === null) continue;
        for (const id of missing.get(row.id) ?? []) found.set(id, row.root);
        this.remember(table, row.id, row.root);
      }
    }
    return found;
  }

  /**
   * The roots this process already knows, without a statement: for a caller whose own miss statement can
   * return the root with the row (AccountFactsCache), so a first sight costs one statement, not two.
   */
  known(table: RootedTable, ids: readonly string[]): Map<string, string> {
    const found = new Map<string, string>();
    for (const id of ids) {
      const root = isUuid(id) ? this.roots.get(`${table}/${id.toLowerCase()}`) : undefined;
      if (root !== undefined) found.set(id, root);
    }
    return found;
  }

  /** The root of one id, or null when no such row exists. */
  async rootOf(table: RootedTable, id: string, client?: pg.PoolClient): Promise<string | null> {
    return (await this.rootsOf(table, [id], client)).get(id) ?? null;
  }

  /**
   * Like readByRoot, for the hottest reads by id: ids whose root this process knows are read by root; the
   * others with `readUnknown`, one statement by bare id that returns each row with its root (which is then
   * remembered), so a first sight costs one statement, not a miss and then a read. That statement, like the
   * directory's miss, names no root (test/routability.allow-list.ts).
   */
  async readKnownByRoot<T extends { id: string; rootLedgerId: string }>(
    table: RootedTable,
    ids: readonly string[],
    read: (root: string, ids: string[]) => Promise<T[]>,
    readUnknown: (ids: string[]) => Promise<T[]>,
  ): Promise<T[]> {
    const known = this.known(table, ids);
    const unknown = [...new Set(ids)].filter((id) => isUuid(id) && !known.has(id));
    const [byRoot, byId] = await Promise.all([
      Promise.all(groupByRoot(known).map(([root, rootIds]) => read(root, rootIds))),
      unknown.length === 0 ? [] : readUnknown(unknown),
    ]);
    return [...byRoot.flat(), ...this.rememberRows(table, byId)];
  }

  /** The ids that exist, grouped by root, roots in sorted order (the global lock order). */
  async byRoot(table: RootedTable, ids: readonly string[], client?: pg.PoolClient): Promise<Array<[string, string[]]>> {
    return groupByRoot(await this.rootsOf(table, ids, client));
  }

  /**
   * Reads rows by id with one statement per root (`WHERE root_ledger_id = $1 AND id = ANY($2)`), the roots'
   * statements sent together; ids that do not exist are left out. Almost every batch has one root.
   */
  async readByRoot<T>(
    table: RootedTable,
    ids: readonly string[],
    read: (root: string, ids: string[]) => Promise<T[]>,
  ): Promise<T[]> {
    const groups = await this.byRoot(table, ids);
    if (groups.length === 1) return read(groups[0]![0], groups[0]![1]);
    return (await Promise.all(groups.map(([root, rootIds]) => read(root, rootIds)))).flat();
  }

  private missReader(table: RootedTable): (id: string) => Promise<{ id: string; root: string } | null> {
    let reader = this.readMisses.get(table);
    if (reader === undefined) {
      reader = missBatcher((ids) => selectRootsOf(this.pool, table, ids));
      this.readMisses.set(table, reader);
    }
    return reader;
  }
}

/**
 * Keys that carry their root, read with one statement per root (the statements sent together), results in
 * the order of the sorted roots: for batches that may span trees (docs/citus-routing.md, rule 4).
 */
export async function readPerRoot<K extends { rootLedgerId: string }, T>(
  keys: readonly K[],
  read: (root: string, keys: K[]) => Promise<T[]>,
): Promise<T[]> {
  const groups = new Map<string, K[]>();
  for (const key of keys) {
    const group = groups.get(key.rootLedgerId);
    if (group) group.push(key);
    else groups.set(key.rootLedgerId, [key]);
  }
  const roots = [...groups.keys()].sort();
  if (roots.length === 1) return read(roots[0]!, groups.get(roots[0]!)!);
  return (await Promise.all(roots.map((root) => read(root, groups.get(root)!)))).flat();
}

/** Ids grouped by root, the roots in sorted order. */
export function groupByRoot(roots: ReadonlyMap<string, string>): Array<[string, string[]]> {
  const groups = new Map<string, string[]>();
  for (const [id, root] of roots) {
    const group = groups.get(root);
    if (group) group.push(id);
    else groups.set(root, [id]);
  }
  return [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
