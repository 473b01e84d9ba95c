import type { Endpoint } from './http-client.js';
import type { LatencySummary } from './stats.js';

/**
 * What the orchestrator asks of the load driver (a separate process) and what it answers. A workload
 * is named by the module that exports it, so each scenario keeps its request shapes beside its targets.
 */
export interface WorkloadRef {
  /** Absolute path of a compiled module exporting `workloads`. */
  module: string;
  name: string;
  params: unknown;
}

export type LoadMode =
  /** Fixed concurrency: each connection sends its next request as soon as the last one answers. */
  | { kind: 'closed'; concurrency: number }
  /** Fixed arrival rate, whatever the latency; latency counts from the intended send time. */
  | { kind: 'open'; ratePerSecond: number; connectionsMax: number };

export interface DriverJob {
  endpoint: Endpoint;
  workload: WorkloadRef;
  mode: LoadMode;
  warmupMs: number;
  durationMs: number;
  /** Seeds the workload's random choices. */
  seed: number;
  /** Stops the run early when this many requests have been measured (0: no limit). */
  requestsMax?: number;
}

export interface OutcomeStats {
  latency: LatencySummary;
}

export interface DriverResult {
  /** Requests completed inside the measured window. */
  completed: number;
  /** Requests answered in the whole run, warm-up and tail included (to divide server-side counters by). */
  answered: number;
  measuredMs: number;
  throughputPerSecond: number;
  /** Latency over every measured request. */
  latency: LatencySummary;
  /** Per outcome: `OK`, a GraphQL error code, or `HTTP_<status>`. */
  outcomes: Record<string, OutcomeStats>;
  /** A few bodies of unexpected outcomes, for the log. */
  samples: string[];
  /** Open-loop only: requests that could not be sent on time because every connection was busy. */
  queuedLate?: number;
}

export type DriverMessage =
  | { type: 'mark'; mark: 'measure-start' | 'measure-end' }
  | { type: 'result'; result: DriverResult }
  | { type: 'error'; message: string };

/** A workload turns a sequence number into one request body (JSON text). */
export type WorkloadFactory = (params: any, random: () => number, uniquePrefix: string) => (sequence: number) => string;
