import type { CommittedPosting } from './ledger-events.js';

/**
 * What one instance tells the others. A posting too large for one notification travels as a reference
 * (`reload`), and the receivers read it back from the database.
 */
export type FanoutItem =
  | { kind: 'posting'; posting: CommittedPosting }
  | { kind: 'reload'; rootLedgerId: string; transactionId: string }
  | { kind: 'apiKeyRevoked'; keyId: string }
  | { kind: 'reconciliationRun'; run: RunReference };

/** A reconciliation run that started or finished; receivers read the run itself back from the database. */
export interface RunReference {
  rootLedgerId: string;
  sourceId: string;
  runId: string;
}

export interface FanoutMessage {
  /** The instance that produced the items; it has already delivered them to its own subscribers. */
  origin: string;
  items: FanoutItem[];
}

/** Carries ledger events between API instances sharing one database. */
export interface Fanout {
  /** Starts listening; every message from another instance is handed to `receive`. */
  start(receive: (message: FanoutMessage) => void): Promise<void>;
  /** Queues an item for the other instances; never throws and never waits for the network. */
  publish(item: FanoutItem): void;
  stop(): Promise<void>;
}

/** One process only: nothing crosses to other instances. */
export const localOnlyFanout: Fanout = {
  start: async () => undefined,
  publish: () => undefined,
  stop: async () => undefined,
};
