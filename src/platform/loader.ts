import DataLoader from 'dataloader';

/** Largest batch one loader sends in one statement. */
export const LOADER_BATCH_MAX = 500;

/** A per-request loader of rows by id: one statement per tick, however many resolvers ask. */
export function loaderById<T extends { id: string }>(fetch: (ids: string[]) => Promise<T[]>): DataLoader<string, T | null> {
  return new DataLoader<string, T | null>(
    async (ids) => {
      const rows = await fetch([...ids]);
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    },
    { maxBatchSize: LOADER_BATCH_MAX },
  );
}

/**
 * Batches the misses of a process-wide cache: lookups that miss in the same tick (the items of a batch,
 * concurrent requests) become one statement. It remembers nothing itself; the cache in front of it does.
 */
export function missBatcher<T extends { id: string }>(fetch: (ids: string[]) => Promise<T[]>): (id: string) => Promise<T | null> {
  const loader = new DataLoader<string, T | null>(
    async (ids) => {
      const rows = await fetch([...new Set(ids)]);
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    },
    { maxBatchSize: LOADER_BATCH_MAX, cache: false },
  );
  return (id) => loader.load(id);
}

/** A per-request loader of row groups by a key (e.g. the balances of an account). */
export function loaderOfGroups<K, T>(fetch: (keys: K[]) => Promise<T[]>, keyOf: (row: T) => K, cacheKey?: (key: K) => unknown): DataLoader<K, T[]> {
  return new DataLoader<K, T[], unknown>(
    async (keys) => {
      const rows = await fetch([...keys]);
      const groups = new Map<unknown, T[]>();
      for (const row of rows) {
        const key = cacheKey ? cacheKey(keyOf(row)) : keyOf(row);
        const group = groups.get(key);
        if (group) group.push(row);
        else groups.set(key, [row]);
      }
      return keys.map((key) => groups.get(cacheKey ? cacheKey(key) : key) ?? []);
    },
    { maxBatchSize: LOADER_BATCH_MAX, cacheKeyFn: cacheKey },
  );
}

/** How each loader of a request's set is made, from the services and the set itself (to prime its siblings). */
export type LoaderMakers<S, T> = { readonly [K in keyof T]: (services: S, loaders: T) => T[K] };

/** The loaders a set of makers makes, by name. */
export type LoadersOf<M> = { readonly [K in keyof M]: M[K] extends (...args: never[]) => infer L ? L : never };

/**
 * A class whose instances are one request's loaders: each made the first time it is asked for. A request
 * uses two or three of them, and a subscription gets a new set for every event; made eagerly, a set was a
 * dozen DataLoaders with their maps and closures, about 4 KB per subscription. The getters live on the
 * prototype, made once per process, so a set costs one small object until a loader is used.
 */
export function loaderSet<S, T extends object>(makers: LoaderMakers<S, T>): new (services: S) => T {
  class Loaders {
    readonly made: Record<string, unknown> = {};
    constructor(readonly services: S) {}
  }
  for (const name of Object.keys(makers) as Array<keyof T & string>) {
    Object.defineProperty(Loaders.prototype, name, {
      get(this: Loaders) {
        this.made[name] ??= makers[name](this.services, this as unknown as T);
        return this.made[name];
      },
    });
  }
  return Loaders as unknown as new (services: S) => T;
}
