import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchContext, LoadRun, LoadSpec } from '../lib/context.js';
import { REPO_ROOT } from '../lib/server.js';

/**
 * A scenario is one module: how to measure it once, and how its medians compare with its targets.
 * The runner repeats `measure` once per round and takes the median of every figure; a scenario whose
 * feature is missing on this branch says so in `unavailable` and is reported as not measured.
 */
export type Figures = Record<string, number>;
/** Median figures of every scenario measured so far, by scenario id. */
export type AllMedians = Record<string, Figures>;

export interface TargetRow {
  scenario: string;
  figure: string;
  value: number | null;
  unit: string;
  /** What the figure is compared with, e.g. `pgbench TPC-B s16`. */
  reference: string | null;
  referenceValue: number | null;
  /** value / referenceValue when there is a reference. */
  ratio: number | null;
  target: string;
  /** null: informational, or not measured. */
  met: boolean | null;
  note?: string;
}

export interface Measurement {
  figures: Figures;
  /** Anything worth keeping in the JSON results (raw runs, samples). */
  detail?: unknown;
}

/** Features present in the schema of the branch being measured. */
export interface Features {
  postTransactions: boolean;
  subscriptions: boolean;
}

export interface ProfileJob {
  /** Names the job's figures (e.g. its statements per request) in the results. */
  key: string;
  title: string;
  spec: LoadSpec;
}

export interface Scenario {
  id: string;
  title: string;
  /** `round`: once per round, interleaved with the references; `after`: once per round after all rounds. */
  phase: 'round' | 'after';
  unavailable?(features: Features): string | null;
  measure(ctx: BenchContext): Promise<Measurement>;
  /** Rows for BENCHMARKS.md. `statements` holds SQL statements per request from the profile pass. */
  targets(all: AllMedians, statements: Record<string, number>): TargetRow[];
  /** Short loads to run under the CPU profiler and pg_stat_statements. */
  profileJobs?(ctx: BenchContext): ProfileJob[];
}

export function detectFeatures(schemaFile = path.join(REPO_ROOT, 'schema.graphql')): Features {
  const schema = readFileSync(schemaFile, 'utf8');
  return {
    postTransactions: /\bpostTransactions\s*\(/.test(schema),
    subscriptions: /^type Subscription\b/m.test(schema),
  };
}

/** Throughput, latency and CPU figures of one load run; throughput counts successful requests only. */
export function loadFigures(run: LoadRun): Figures {
  const ok = run.outcomes.OK?.latency.count ?? 0;
  return {
    throughput: (ok * 1000) / run.measuredMs,
    requestsPerSecond: run.throughputPerSecond,
    p50Ms: run.latency.p50Ms,
    p90Ms: run.latency.p90Ms,
    p99Ms: run.latency.p99Ms,
    meanMs: run.latency.meanMs,
    errors: run.completed - ok,
    serverCores: run.cpu?.serverCores ?? NaN,
    postgresCores: run.cpu?.postgresCores ?? NaN,
    driverCores: run.cpu?.driverCores ?? NaN,
    machineCores: run.cpu?.machineCores ?? NaN,
    serverCpuUsPerRequest: ((run.cpu?.serverCores ?? NaN) * 1e6) / run.throughputPerSecond,
    postgresCpuUsPerRequest: ((run.cpu?.postgresCores ?? NaN) * 1e6) / run.throughputPerSecond,
    // Whatever else ran meanwhile (other work on the machine, other clients of the same Postgres).
    otherCores: run.cpu
      ? Math.max(
          0,
          run.cpu.machineCores - (run.cpu.serverCores ?? 0) - (run.cpu.postgresCores ?? 0) - (run.cpu.driverCores ?? 0),
        )
      : NaN,
  };
}

/** A figure as a ratio of its reference; the target is a floor (`atLeast`) or, for costs, a ceiling (`atMost`). */
export function ratioRow(input: {
  scenario: string;
  figure: string;
  value: number | undefined;
  unit: string;
  reference: string;
  referenceValue: number | undefined;
  atLeast?: number;
  atMost?: number;
  note?: string;
}): TargetRow {
  const value = input.value ?? NaN;
  const referenceValue = input.referenceValue ?? NaN;
  const ratio =
    Number.isFinite(value) && Number.isFinite(referenceValue) && referenceValue > 0 ? value / referenceValue : null;
  // Neither bound: an informational ratio, reported but never met or missed.
  const met =
    ratio === null
      ? null
      : input.atMost !== undefined
        ? ratio <= input.atMost
        : input.atLeast !== undefined
          ? ratio >= input.atLeast
          : null;
  return {
    scenario: input.scenario,
    figure: input.figure,
    value: Number.isFinite(value) ? value : null,
    unit: input.unit,
    reference: input.reference,
    referenceValue: Number.isFinite(referenceValue) ? referenceValue : null,
    ratio,
    target:
      input.atMost !== undefined ? `≤ ${input.atMost}×` : input.atLeast !== undefined ? `≥ ${input.atLeast}×` : '—',
    met,
    note: input.note,
  };
}

export function limitRow(input: {
  scenario: string;
  figure: string;
  value: number | undefined;
  unit: string;
  atMost?: number;
  atLeast?: number;
  note?: string;
}): TargetRow {
  const value = input.value ?? NaN;
  const measured = Number.isFinite(value);
  const met = !measured
    ? null
    : input.atMost !== undefined
      ? value <= input.atMost
      : input.atLeast !== undefined
        ? value >= input.atLeast
        : null;
  return {
    scenario: input.scenario,
    figure: input.figure,
    value: measured ? value : null,
    unit: input.unit,
    reference: null,
    referenceValue: null,
    ratio: null,
    target:
      input.atMost !== undefined
        ? `≤ ${input.atMost} ${input.unit}`
        : input.atLeast !== undefined
          ? `≥ ${input.atLeast} ${input.unit}`
          : '—',
    met,
    note: input.note,
  };
}

export function notMeasuredRow(scenario: string, figure: string, target: string, why: string): TargetRow {
  return {
    scenario,
    figure,
    value: null,
    unit: '',
    reference: null,
    referenceValue: null,
    ratio: null,
    target,
    met: null,
    note: why,
  };
}
