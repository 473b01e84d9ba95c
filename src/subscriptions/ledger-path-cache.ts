import type { LedgerService } from '../ledgers/ledger.service.js';

/** Ledgers remembered at most; past this the oldest are forgotten (and read again when needed). */
export const LEDGER_PATHS_CACHED_MAX = 10_000;

/**
 * Ledger paths (root → ledger) for per-event checks of ledger subscriptions. A ledger never moves and is
 * never deleted, so a path once read stays true and needs no invalidation.
 */
export class LedgerPathCache {
  private readonly paths = new Map<string, readonly string[]>();

  constructor(private readonly ledgers: LedgerService) {}

  async pathsOf(ids: readonly string[]): Promise<Map<string, readonly string[]>> {
    const missing = [...new Set(ids.filter((id) => !this.paths.has(id)))];
    if (missing.length > 0) {
      for (const ledger of await this.ledgers.fetchByIds(missing)) {
        this.paths.set(ledger.id, ledger.path);
        if (this.paths.size > LEDGER_PATHS_CACHED_MAX) this.paths.delete(this.paths.keys().next().value!);
      }
    }
    const found = new Map<string, readonly string[]>();
    for (const id of ids) {
      const path = this.paths.get(id);
      if (path !== undefined) found.set(id, path);
    }
    return found;
  }
}
